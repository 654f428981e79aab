"""The `spacecal` command.

Every command that needs the database uses `DATABASE_URL`, or starts the embedded
PostgreSQL in the data directory (`SPACECAL_DATA_DIR`, default ./.spacecal) when it is
unset. Errors a user can act on are printed as one line saying what to do; exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from spacecal import __version__

EXIT_USAGE = 2
T = TypeVar("T")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _settings(args: argparse.Namespace) -> object:
    from spacecal.config import Settings, reset_settings_cache

    if getattr(args, "data_dir", None):
        os.environ["SPACECAL_DATA_DIR"] = str(args.data_dir)
    reset_settings_cache()
    return Settings()


def cmd_serve(args: argparse.Namespace) -> int:
    from spacecal import runner
    from spacecal.config import Settings

    os.environ["SPACECAL_HOST"] = args.host
    os.environ["SPACECAL_PORT"] = str(args.port)
    settings = _settings(args)
    assert isinstance(settings, Settings)
    where = (
        "DATABASE_URL" if settings.database_url else f"embedded PostgreSQL in {settings.data_dir}"
    )
    with_worker = "" if args.no_worker else ", with a worker"
    print(
        f"spacecal {__version__}: serving on http://{args.host}:{args.port} ({where}{with_worker})",
        flush=True,
    )
    # uvicorn re-raises the SIGTERM it caught once it has shut down; make that a clean
    # exit so the embedded database is released instead of the process dying on it.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        asyncio.run(
            runner.serve(
                settings,
                host=args.host,
                port=args.port,
                worker=not args.no_worker,
                log_level=args.log_level,
            )
        )
    finally:
        _release_embedded(settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from spacecal import runner
    from spacecal.config import Settings

    settings = _settings(args)
    assert isinstance(settings, Settings)
    concurrency = args.concurrency or settings.worker_concurrency
    print(f"spacecal {__version__}: worker running {concurrency} job(s) at a time", flush=True)
    try:
        asyncio.run(runner.work(settings, concurrency=concurrency))
    finally:
        _release_embedded(settings)
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from spacecal.config import Settings
    from spacecal.db.migrate import current_revision, upgrade
    from spacecal.db.url import libpq_url

    settings = _settings(args)
    assert isinstance(settings, Settings)
    url = libpq_url(settings)
    before = current_revision(url)
    upgrade(url)
    after = current_revision(url)
    if before == after:
        print(f"The database schema is current (revision {after}).")
    else:
        print(f"Upgraded the database schema from {before or 'empty'} to {after}.")
    _release_embedded(settings)
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from spacecal.api.users import UserError, create_user, validate_roles
    from spacecal.config import Settings
    from spacecal.db.engine import open_database

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    if not password:
        raise CliError("the password is empty: give --password PW or pipe it to --password-stdin.")
    try:
        validate_roles(args.role or [])
    except UserError as exc:
        raise CliError(str(exc)) from None
    settings = _settings(args)
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
    _release_embedded(settings)
    return 0


def _run_with_db(args: argparse.Namespace, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Open the database (embedded or DATABASE_URL), run `work(db, settings)`, release."""
    from spacecal.config import Settings
    from spacecal.db.engine import open_database

    settings = _settings(args)
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
        _release_embedded(settings)


def cmd_members_set_password(args: argparse.Namespace) -> int:
    from spacecal.portal.members import MemberNotFound, find_coworker, set_password

    password = sys.stdin.readline().rstrip("\r\n") if args.password_stdin else args.password
    if not password:
        raise CliError("the password is empty: give --password PW or pipe it to --password-stdin.")

    async def work(db: Any, settings: Any) -> int:
        coworker_id = await find_coworker(db.engine, args.email)
        await set_password(db.engine, coworker_id, password)
        return coworker_id

    try:
        coworker_id = _run_with_db(args, work)
    except (MemberNotFound, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"Set the portal password of member {args.email} (coworker {coworker_id}).")
    return 0


def cmd_members_sign_in_link(args: argparse.Namespace) -> int:
    from spacecal.portal.members import MemberNotFound, find_coworker, issue_sign_in_link

    async def work(db: Any, settings: Any) -> tuple[str, datetime]:
        coworker_id = await find_coworker(db.engine, args.email)
        return await issue_sign_in_link(db.engine, settings, coworker_id)

    try:
        url, expires = _run_with_db(args, work)
    except MemberNotFound as exc:
        raise CliError(str(exc)) from None
    print(url)
    print(f"(works once, until {expires:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
    return 0


def cmd_keys_reencrypt(args: argparse.Namespace) -> int:
    from spacecal.sync.tokens import reencrypt_tokens

    async def work(db: Any, settings: Any) -> int:
        return await reencrypt_tokens(db.engine, db.cipher)

    count = _run_with_db(args, work)
    print(
        f"Re-encrypted {count} stored provider secrets under the first key of "
        "SPACECAL_SECRET_KEYS; the other keys can now be removed."
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from spacecal.demo import DemoOptions, run

    return run(
        DemoOptions(port=args.port, keep=args.keep, exit_after_narration=args.exit_after_narration)
    )


def cmd_emulate(args: argparse.Namespace) -> int:
    try:
        from spacecal.emulators.server import serve
    except ImportError as exc:  # pragma: no cover - present in every build
        raise CliError(f"the emulators are not available: {exc}") from None
    serve(args.provider, args.host, args.port, seed=args.seed)
    return 0


def _release_embedded(settings: object) -> None:
    from spacecal.config import Settings
    from spacecal.db.embedded import stop_embedded

    assert isinstance(settings, Settings)
    if not settings.database_url:
        stop_embedded(settings.data_dir)


DEMO_HELP = """\
Start a complete, throwaway spacecal on this machine and watch it work.

In one process, on loopback only:
  - the embedded PostgreSQL in a fresh temporary data directory (always: DATABASE_URL
    and SPACECAL_SECRET_KEYS are ignored, so a demo never touches real data);
  - the Google Calendar and Microsoft Graph emulators (with their OAuth consent pages),
    each on a free port;
  - spacecal's API, members' portal and webhooks on --port, with a job worker, and
    every provider setting pointing at the emulators.

It then creates the business "Riverside" (Europe/London) with two rooms and two desks,
an admin API user, and the member Alice, whose Google and Microsoft accounts are
connected through the portal's real OAuth flow (the emulators' consent forms), each
with a calendar for "Meeting Room A".

Then it narrates, with timestamps and measured delays: an event Alice creates in her
Google calendar becomes a booking, the same through Microsoft, a conflicting event is
refused and marked with the reason, and a booking made through the API appears in
both calendars.

Finally it prints the portal URL with Alice's password and a one-time sign-in link,
the admin console URL, an admin API token and a ready curl for
GET /api/spaces/coworkergooglecalendars/{id}, and keeps running until Ctrl-C (or
SIGTERM). Stopping ends the worker, the servers and the embedded database, and removes
the data directory unless --keep.
"""


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
    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory for the embedded database and keys "
        "(default: $SPACECAL_DATA_DIR or ./.spacecal)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        parents=[data_dir],
        help="serve the API",
        description="Serve the records API, the members' portal and the provider webhooks, "
        "with an in-process job worker unless --no-worker. "
        "Applies migrations first. Ctrl-C stops it and the embedded database cleanly.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("SPACECAL_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SPACECAL_PORT", "8000")),
        help="port to bind (default 8000)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="serve only; run jobs in separate `spacecal worker` processes",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        parents=[data_dir],
        help="run sync jobs",
        description="Run the job worker: reconciles calendars after notifications and "
        "booking changes, and runs the periodic sweep and stalled-job recovery. Run as many "
        "as you like against one database; each calendar is synced by one at a time.",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs run at once (default: SPACECAL_WORKER_CONCURRENCY, 4)",
    )
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema", description="Manage the database schema.")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    upgrade = db_sub.add_parser(
        "upgrade",
        parents=[data_dir],
        help="apply migrations",
        description="Apply every pending migration (safe to run again; concurrent runs wait).",
    )
    upgrade.set_defaults(func=cmd_db_upgrade)

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

    members = sub.add_parser(
        "members", help="members' portal access", description="Portal sign-in for members."
    )
    members_sub = members.add_subparsers(dest="members_command", metavar="ACTION")
    set_pw = members_sub.add_parser(
        "set-password",
        parents=[data_dir],
        help="set a member's portal password",
        description="Set the members' portal password of the coworker with this email.",
    )
    set_pw.add_argument("email", help="the coworker's email")
    pw = set_pw.add_mutually_exclusive_group(required=True)
    pw.add_argument("--password", help="the password (prefer --password-stdin)")
    pw.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    set_pw.set_defaults(func=cmd_members_set_password)
    link = members_sub.add_parser(
        "sign-in-link",
        parents=[data_dir],
        help="issue a one-time portal sign-in link",
        description="Print a one-time sign-in link for the coworker with this email "
        "(SPACECAL_PUBLIC_URL is its base; it expires after SPACECAL_PORTAL_SIGN_IN_LINK_MINUTES).",
    )
    link.add_argument("email", help="the coworker's email")
    link.set_defaults(func=cmd_members_sign_in_link)

    keys = sub.add_parser("keys", help="encryption keys", description="Encryption key care.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    reenc = keys_sub.add_parser(
        "reencrypt",
        parents=[data_dir],
        help="re-encrypt stored provider tokens under the newest key",
        description="Key rotation: set SPACECAL_SECRET_KEYS=new,old, run this, then drop old.",
    )
    reenc.set_defaults(func=cmd_keys_reencrypt)

    demo = sub.add_parser(
        "demo",
        help="try spacecal: emulated Google and Microsoft, a seeded space, live narration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DEMO_HELP,
    )
    demo.add_argument(
        "--port", type=int, default=8000, help="spacecal's port (default 8000; 0 picks a free one)"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary data directory after stopping (its path is printed)",
    )
    demo.add_argument(
        "--exit-after-narration",
        action="store_true",
        help="stop right after printing the narration and the sign-in details (for tests)",
    )
    demo.set_defaults(func=cmd_demo)

    emulate = sub.add_parser(
        "emulate",
        help="run a provider emulator",
        description="Run the Google or Microsoft emulator as a server. Prints one name=url "
        "line per base URL a client needs, then serves until stopped.",
    )
    emulate.add_argument("provider", choices=["google", "microsoft"])
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8100)
    emulate.add_argument("--seed", type=int, default=0, help="random seed (reproducible runs)")
    emulate.set_defaults(func=cmd_emulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        # A group without its action: show that group's help.
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from spacecal.crypto import KeyConfigurationError
    from spacecal.db.embedded import EmbeddedDatabaseError

    try:
        return int(args.func(args))
    except (CliError, KeyConfigurationError, EmbeddedDatabaseError) as exc:
        print(f"spacecal: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
