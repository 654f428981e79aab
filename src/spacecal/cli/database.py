"""`spacecal db`: the database schema."""

from __future__ import annotations

import argparse

from spacecal.cli.common import Subparsers, release_embedded, settings_for


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from spacecal.config import Settings
    from spacecal.db.migrate import current_revision, upgrade
    from spacecal.db.url import libpq_url

    settings = settings_for(args)
    assert isinstance(settings, Settings)
    url = libpq_url(settings)
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    if before == after:
        print(f"The database schema is current (revision {after}).")
    else:
        print(f"Upgraded the database schema from {before or 'empty'} to {after}.")
    release_embedded(settings)
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    db = sub.add_parser("db", help="database schema", description="Manage the database schema.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    upgrade = db_sub.add_parser(
        "upgrade",
        parents=[data_dir],
        help="apply migrations",
        description="Apply every pending migration (safe to run again; concurrent runs wait).",
    )
    upgrade.set_defaults(func=cmd_db_upgrade)
