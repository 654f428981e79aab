"""The `spacecal` command: one module per command group (see main.py).

Errors a user can act on are printed as one line saying what to do; exit 2.
"""

from __future__ import annotations

from spacecal.cli.common import EXIT_USAGE, CliError
from spacecal.cli.main import build_parser, main

__all__ = ["EXIT_USAGE", "CliError", "build_parser", "main"]
