"""`spacecal doctor`: is this installation able to keep calendars in sync?

Prints one line per check (OK / WARN / FAIL, what was found, what to do) and exits
1 when any check failed, 0 otherwise, so it can gate a deployment. The checks are in
doctor_checks.py; they only read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from spacecal.cli.common import Subparsers, release_embedded, settings_for
from spacecal.cli.doctor_checks import FAIL, OK, WARN, Check

DOCTOR_HELP = """\
Check this installation and say what to fix. Each check prints OK, WARN or FAIL with
one sentence; the exit status is 1 when any check failed (0 with warnings only).

  configuration       settings load; which providers are configured, none half-set
  encryption keys     SPACECAL_SECRET_KEYS (or the data directory's key) are valid;
                      the newest key's fingerprint
  public webhook URL  SPACECAL_PUBLIC_URL is https, a public DNS name (not localhost,
                      a private address or a bare IP) that resolves from here
  database            DATABASE_URL (or the embedded server) answers within 5 s
  migrations          the schema is at this spacecal's revision
  key fingerprint     the database's tokens are encrypted with one of our keys
  clock               this machine's clock agrees with the database's
  workers             a worker has reported within the last minute
  queue               jobs and notifications are not waiting long
  connections         how many are healthy, failing, expiring, need reconnect

Nothing is changed: no migration, no key file, no job.
"""


async def _database_checks(settings: Any, cipher: Any) -> list[Check]:
    from datetime import timedelta

    from sqlalchemy import text

    from spacecal import clock
    from spacecal.cli import doctor_checks as checks
    from spacecal.db.engine import make_engine
    from spacecal.db.url import libpq_url

    pgdata = settings.data_dir.expanduser() / "pgdata"
    if not settings.database_url and not pgdata.exists():
        # Starting the embedded server would create a cluster: doctor only reads.
        return [
            Check(
                "database",
                WARN,
                f"no embedded database yet in {pgdata}: the first `spacecal serve` (or "
                "`spacecal db upgrade`) creates it. Set DATABASE_URL to use a server instead.",
            )
        ]
    try:
        url = libpq_url(settings)
    except Exception as exc:  # the embedded server could not start
        return [Check("database", FAIL, f"{exc}")]
    engine = make_engine(url, pool_size=1)
    try:
        try:
            async with asyncio.timeout(5):
                async with engine.connect() as conn:
                    version = await conn.scalar(text("SHOW server_version"))
        except Exception as exc:
            where = "DATABASE_URL" if settings.database_url else "the embedded server"
            reason = type(exc).__name__ if isinstance(exc, TimeoutError) else _first_line(exc)
            return [
                Check(
                    "database",
                    FAIL,
                    f"cannot reach {where} ({reason}): check that the server runs, and the "
                    "host, port, user, password and database name in the URL.",
                )
            ]
        found = [Check("database", OK, f"reachable, PostgreSQL {version}.")]
        migrations = await checks.check_migrations(engine)
        found.append(migrations)
        if migrations.status == FAIL:
            return found
        found.append(await checks.check_key_fingerprint(engine, cipher))
        found.append(await checks.check_clock(engine, clock.now))
        found.append(await checks.check_workers(engine))
        found.append(await checks.check_queue(engine))
        soon = timedelta(seconds=float(settings.admin_expiring_soon_seconds))
        found.append(await checks.check_connections(engine, clock.now(), soon))
        return found
    finally:
        await engine.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


async def run_checks(settings: Any) -> list[Check]:
    from spacecal.cli import doctor_checks as checks

    found = [checks.check_configuration(settings)]
    key_check, cipher = checks.check_keys(settings)
    found.append(key_check)
    found.append(await checks.check_public_url(settings))
    found += await _database_checks(settings, cipher)
    return found


def cmd_doctor(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        settings = settings_for(args)
    except ValidationError as exc:
        problems = "; ".join(
            f"SPACECAL_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors()
        )
        found = [Check("configuration", FAIL, f"settings do not load: {problems}.")]
    else:
        try:
            found = asyncio.run(run_checks(settings))
        finally:
            release_embedded(settings)
    if args.json:
        print(json.dumps([c.__dict__ for c in found], indent=2))
    else:
        width = max(len(c.name) for c in found)
        for c in found:
            print(f"{c.status:<4}  {c.name:<{width}}  {c.message}")
        warnings = sum(c.status == WARN for c in found)
        failures = sum(c.status == FAIL for c in found)
        if failures or warnings:
            print(f"\n{failures} failed, {warnings} warning(s).", file=sys.stderr)
        else:
            print(f"\nAll {sum(c.status == OK for c in found)} checks passed.", file=sys.stderr)
    return 1 if any(c.status == FAIL for c in found) else 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    doctor = sub.add_parser(
        "doctor",
        parents=[data_dir],
        help="check configuration, database, keys, webhook URL, clock and workers",
        description=DOCTOR_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor.add_argument("--json", action="store_true", help="the checks as JSON")
    doctor.set_defaults(func=cmd_doctor)
