"""`spacecal users`: API users."""

from __future__ import annotations

import argparse
import asyncio

from spacecal.cli.common import (
    CliError,
    Subparsers,
    read_password,
    release_embedded,
    settings_for,
)


def cmd_users_create(args: argparse.Namespace) -> int:
    from spacecal.api.users import UserError, create_user, validate_roles
    from spacecal.config import Settings
    from spacecal.db.engine import open_database

    password = read_password(args)
    try:
        validate_roles(args.role or [])
    except UserError as exc:
        raise CliError(str(exc)) from None
    settings = settings_for(args)
    assert isinstance(settings, Settings)

    async def run() -> tuple[int, bool]:
        db = await open_database(settings)
        try:
            return await create_user(
                db.engine, args.email, password, args.role or [], args.full_admin
            )
        finally:
            await db.dispose()

    try:
        user_id, created = asyncio.run(run())
    except UserError as exc:
        raise CliError(str(exc)) from None
    what = "Created" if created else "Updated"
    grants = "full administrator" if args.full_admin else (", ".join(args.role or []) or "no roles")
    print(f"{what} API user {args.email.strip().lower()} (id {user_id}): {grants}.")
    release_embedded(settings)
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    users = sub.add_parser("users", help="API users", description="Manage API users.")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION")
    create = users_sub.add_parser(
        "create",
        parents=[data_dir],
        help="create or update an API user",
        description="Create an API user (or replace the password and roles of an existing "
        "one). Roles are <Record>-<List|Read|Create|Edit|Delete>, e.g. "
        "CoworkerGoogleCalendar-Read; --full-admin grants everything.",
    )
    create.add_argument("email", help="the user's email (their user name)")
    secret = create.add_mutually_exclusive_group(required=True)
    secret.add_argument(
        "--password", help="the password (visible in shell history: prefer --password-stdin)"
    )
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.add_argument(
        "--role", action="append", metavar="ROLE", help="grant a role; repeat for several"
    )
    create.add_argument(
        "--full-admin", action="store_true", help="a full unrestricted administrator"
    )
    create.set_defaults(func=cmd_users_create)
