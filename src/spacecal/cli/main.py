"""The `spacecal` parser and entry point: each command group registers itself.

To add a command group, write a module here with `register(sub, data_dir)` and add it
to GROUPS; the order of GROUPS is the order `spacecal --help` lists them in.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from spacecal import __version__
from spacecal.cli import (
    configref,
    connections,
    database,
    demo,
    doctor,
    keys,
    members,
    processes,
    users,
)
from spacecal.cli.common import (
    EXIT_USAGE,
    CliError,
    Subparsers,
    configure_logging,
    data_dir_parent,
)

Register = Callable[[Subparsers, argparse.ArgumentParser], None]

GROUPS: list[Register] = [
    processes.register,
    database.register,
    users.register,
    members.register,
    keys.register,
    connections.register,
    doctor.register,
    configref.register,
    demo.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spacecal",
        description=(
            "spacecal keeps coworking members' Google and Microsoft 365 calendars in sync "
            "with the space's room and desk bookings. Without DATABASE_URL, commands use an "
            "embedded PostgreSQL in the data directory."
        ),
    )
    parser.add_argument("--version", action="version", version=f"spacecal {__version__}")

    data_dir = data_dir_parent()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in GROUPS:
        register(sub, data_dir)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        # A group without its action: show that group's help.
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return EXIT_USAGE
    configure_logging()
    from spacecal.crypto import KeyConfigurationError
    from spacecal.db.embedded import EmbeddedDatabaseError

    try:
        return int(args.func(args))
    except (CliError, KeyConfigurationError, EmbeddedDatabaseError) as exc:
        print(f"spacecal: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
