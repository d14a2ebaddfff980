"""tuibuild: run a build.toml task graph on a bounded process pool, live in the terminal."""

from __future__ import annotations

__version__ = "0.1.0"
