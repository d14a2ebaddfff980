"""Widgets of the dashboard, each in a module of its own."""
