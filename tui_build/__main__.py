"""`python -m tui_build` is the `tuibuild` command."""

from __future__ import annotations

import sys

from .cli import main
from .fastpath import skip_final_collection

if __name__ == "__main__":
    code = main()
    skip_final_collection()
    sys.exit(code)
