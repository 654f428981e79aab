"""`spacecal users`: API users."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from spacecal.cli.common import (
    CliError,
    Subparsers,
    read_password,
    release_embedded,
    run_with_db,
    settings_for,
)

AFTER = (
    "Every access and refresh token of the user is revoked and their console sessions "
    "end. Other API processes stop accepting cached credentials within "
    "SPACECAL_BEARER_CACHE_SECONDS."
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
                db.engine, args.email, password, args.role or [], args.full_admin, settings
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


def _revoking(args: argparse.Namespace, change: Any) -> int:
    """Run one change of a user that revokes their tokens; the count revoked."""
    from spacecal.api.users import UserError

    async def work(db: Any, settings: Any) -> int:
        return int(await change(db.engine, settings))

    try:
        return int(run_with_db(args, work))
    except UserError as exc:
        raise CliError(str(exc)) from None


def cmd_users_set_password(args: argparse.Namespace) -> int:
    from spacecal.api.users import set_password

    password = read_password(args)
    email = args.email.strip().lower()
    revoked = _revoking(
        args, lambda engine, settings: set_password(engine, args.email, password, settings)
    )
    print(f"Set the password of API user {email}; revoked {revoked} token(s).")
    return 0


def cmd_users_deactivate(args: argparse.Namespace) -> int:
    from spacecal.api.users import deactivate

    revoked = _revoking(args, lambda engine, _settings: deactivate(engine, args.email))
    print(f"Deactivated API user {args.email.strip().lower()}; revoked {revoked} token(s).")
    return 0


def cmd_users_revoke_tokens(args: argparse.Namespace) -> int:
    from spacecal.api.users import revoke_tokens

    revoked = _revoking(args, lambda engine, _settings: revoke_tokens(engine, args.email))
    print(f"Revoked {revoked} token(s) of API user {args.email.strip().lower()}.")
    return 0


def _password_options(parser: argparse.ArgumentParser) -> None:
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument(
        "--password", help="the password (visible in shell history: prefer --password-stdin)"
    )
    secret.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def _register_revocations(users_sub: Any, data_dir: argparse.ArgumentParser) -> None:
    set_pw = users_sub.add_parser(
        "set-password",
        parents=[data_dir],
        help="change an API user's password (revokes their tokens)",
        description="Replace the password of an existing API user (at least 8 characters). "
        + AFTER,
    )
    set_pw.add_argument("email", help="the user's email (their user name)")
    _password_options(set_pw)
    set_pw.set_defaults(func=cmd_users_set_password)
    off = users_sub.add_parser(
        "deactivate",
        parents=[data_dir],
        help="stop an API user from signing in (revokes their tokens)",
        description="Deactivate an API user: their password, Basic credentials and tokens "
        "stop working. " + AFTER + " `spacecal users create` with a new password makes "
        "the user active again.",
    )
    off.add_argument("email", help="the user's email (their user name)")
    off.set_defaults(func=cmd_users_deactivate)
    revoke = users_sub.add_parser(
        "revoke-tokens",
        parents=[data_dir],
        help="revoke every token of an API user (the password stays)",
        description="Revoke every access and refresh token of an API user, e.g. after a "
        "token leaked; the user signs in again with their password. " + AFTER,
    )
    revoke.add_argument("email", help="the user's email (their user name)")
    revoke.set_defaults(func=cmd_users_revoke_tokens)


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    users = sub.add_parser("users", help="API users", description="Manage API users.")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION")
    create = users_sub.add_parser(
        "create",
        parents=[data_dir],
        help="create or update an API user",
        description="Create an API user (or replace the password and roles of an existing "
        "one, making it active again and revoking its tokens). Roles are "
        "<Record>-<List|Read|Create|Edit|Delete>, e.g. "
        "CoworkerGoogleCalendar-Read; --full-admin grants everything.",
    )
    create.add_argument("email", help="the user's email (their user name)")
    _password_options(create)
    create.add_argument(
        "--role", action="append", metavar="ROLE", help="grant a role; repeat for several"
    )
    create.add_argument(
        "--full-admin", action="store_true", help="a full unrestricted administrator"
    )
    create.set_defaults(func=cmd_users_create)
    _register_revocations(users_sub, data_dir)
