"""What every command shares: settings, the database opened for one command, errors.

Every command that needs the database uses `DATABASE_URL`, or starts the embedded
PostgreSQL in the data directory (`SPACECAL_DATA_DIR`, default ./.spacecal) when it is
unset, and releases it when done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

EXIT_USAGE = 2
T = TypeVar("T")

# argparse's subparsers action has a private type; this is what `add_parser` is called on.
Subparsers = Any


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def data_dir_parent() -> argparse.ArgumentParser:
    """The `--data-dir` option every database command accepts."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory for the embedded database and keys "
        "(default: $SPACECAL_DATA_DIR or ./.spacecal)",
    )
    return parent


def settings_for(args: argparse.Namespace) -> Any:
    """Fresh settings, with `--data-dir` applied (it outranks the environment)."""
    from spacecal.config import Settings, reset_settings_cache

    if getattr(args, "data_dir", None):
        os.environ["SPACECAL_DATA_DIR"] = str(args.data_dir)
    reset_settings_cache()
    return Settings()


def release_embedded(settings: object) -> None:
    """Stop the embedded server when this was its last user (no-op with DATABASE_URL)."""
    from spacecal.config import Settings
    from spacecal.db.embedded import stop_embedded

    assert isinstance(settings, Settings)
    if not settings.database_url:
        stop_embedded(settings.data_dir)


def run_with_db(args: argparse.Namespace, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Open the database (embedded or DATABASE_URL), run `work(db, settings)`, release."""
    from spacecal.config import Settings
    from spacecal.db.engine import open_database

    settings = settings_for(args)
    assert isinstance(settings, Settings)

    async def run() -> T:
        db = await open_database(settings)
        try:
            return await work(db, settings)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    finally:
        release_embedded(settings)


def read_password(args: argparse.Namespace) -> str:
    """The password from --password or the first line of stdin (--password-stdin)."""
    import sys

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    if not password:
        raise CliError("the password is empty: give --password PW or pipe it to --password-stdin.")
    return str(password)


def configure_logging(settings: Any = None, level: str = "WARNING") -> None:
    """Log lines as the settings say (spacecal.logs); commands other than serve and
    worker log warnings only. Settings that do not load leave the defaults (doctor
    reports them)."""
    from spacecal.logs import configure

    if settings is None:
        from pydantic import ValidationError

        from spacecal.config import Settings

        try:
            settings = Settings()
        except ValidationError:
            settings = None
    fmt = "auto" if settings is None else ("json" if settings.log_json else settings.log_format)
    configure(fmt, level)
