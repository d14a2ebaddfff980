"""The dashboard's other screens: failures, help, confirmations."""
