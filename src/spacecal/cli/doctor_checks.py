"""The checks `spacecal doctor` runs. Each returns a `Check`: OK, WARN or FAIL with one
sentence saying what was found and, when it is not OK, what to do.

Checks only read: nothing is migrated, no key file is written, no job is queued.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.config import Settings
from spacecal.jobs import status as job_status

OK, WARN, FAIL = "OK", "WARN", "FAIL"

# Clock skew between this machine and the database: token expiry, subscription expiry
# and renewal are computed here; the database stamps worker heartbeats.
SKEW_WARN_SECONDS = 2.0
SKEW_FAIL_SECONDS = 30.0
WORKER_ALIVE_SECONDS = 60.0  # workers beat every 10 s (worker_heartbeat_seconds)
QUEUE_WAIT_WARN_SECONDS = 300.0
MARK_WAIT_WARN_SECONDS = 60.0


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str


def _is_loopback_host(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uses_emulators(settings: Settings) -> bool:
    """Every configured provider API points at this machine: a demo or a test rig,
    where a loopback public URL is right."""
    bases = []
    if settings.google_client_id:
        bases.append(settings.google_api_base)
    if settings.microsoft_client_id:
        bases.append(settings.microsoft_graph_base)
    return bool(bases) and all(_is_loopback_host(urlsplit(b).hostname or "") for b in bases)


# --- without the database -------------------------------------------------------------


def check_configuration(settings: Settings) -> Check:
    problems: list[str] = []
    offered: list[str] = []
    for name, label in (("google", "Google"), ("microsoft", "Microsoft")):
        client_id = getattr(settings, f"{name}_client_id")
        secret = getattr(settings, f"{name}_client_secret")
        if client_id and secret:
            offered.append(label)
        elif client_id or secret:
            missing = "CLIENT_SECRET" if client_id else "CLIENT_ID"
            problems.append(
                f"SPACECAL_{name.upper()}_{missing} is missing while its pair is set: "
                f"{label} cannot be connected until both are set"
            )
    if problems:
        return Check("configuration", FAIL, "; ".join(problems) + ".")
    if not offered:
        return Check(
            "configuration",
            WARN,
            "no provider is configured, so members cannot connect a calendar: set "
            "SPACECAL_GOOGLE_CLIENT_ID/_CLIENT_SECRET and/or "
            "SPACECAL_MICROSOFT_CLIENT_ID/_CLIENT_SECRET.",
        )
    where = "DATABASE_URL" if settings.database_url else f"embedded in {settings.data_dir}"
    return Check(
        "configuration",
        OK,
        f"settings load; offered: {' and '.join(offered)}; database: {where}.",
    )


def check_keys(settings: Settings) -> tuple[Check, Any]:
    """The key check and the cipher (None when there are no usable keys yet)."""
    from spacecal.crypto import KEY_FILE_NAME, KeyConfigurationError, TokenCipher, load_keys

    embedded = not settings.database_url
    if embedded and not settings.secret_key_list():
        path = settings.data_dir.expanduser() / KEY_FILE_NAME
        if not path.exists():
            return (
                Check(
                    "encryption keys",
                    WARN,
                    f"no key yet in {path}: one is generated on first start. Back it up, "
                    "or set SPACECAL_SECRET_KEYS yourself.",
                ),
                None,
            )
    try:
        cipher = TokenCipher(load_keys(settings, embedded=embedded))
    except KeyConfigurationError as exc:
        return Check("encryption keys", FAIL, f"{exc}."), None
    source = "SPACECAL_SECRET_KEYS" if settings.secret_key_list() else "the data directory"
    return (
        Check(
            "encryption keys",
            OK,
            f"{len(cipher.keys)} key(s) from {source}; newest fingerprint "
            f"{cipher.primary_fingerprint}.",
        ),
        cipher,
    )


async def check_public_url(settings: Settings, *, resolve: bool = True) -> Check:
    """Where providers deliver notifications: https, a real host name, reachable from
    the internet (as far as can be told from here: it resolves to a public address)."""
    from spacecal.providers.registry import PROVIDER_NAMES, capabilities

    name = "public webhook URL"
    url = settings.effective_public_url()
    parts = urlsplit(url)
    host = parts.hostname or ""
    paths = (capabilities(name).webhook_path for name in PROVIDER_NAMES)
    hooks = ", ".join(url + path for path in paths if path)
    if _uses_emulators(settings):
        return Check(name, OK, f"{url} (the providers are emulators on this machine).")
    if not settings.public_url:
        return Check(
            name,
            FAIL,
            f"SPACECAL_PUBLIC_URL is not set, so providers are told to call {url}, which "
            "they cannot reach: no notification arrives and calendars sync only when the "
            "sweep comes round. Set it to the https address this service is reachable at.",
        )
    if parts.scheme != "https":
        return Check(
            name,
            FAIL,
            f"{url} is not https: Google and Microsoft deliver notifications only to https "
            "URLs with a valid certificate. Put spacecal behind TLS and set "
            "SPACECAL_PUBLIC_URL=https://...",
        )
    if not host or parts.query or parts.fragment:
        return Check(name, FAIL, f"{url} needs a host and no query or fragment.")
    if _is_loopback_host(host) or host.endswith((".local", ".internal", ".lan")):
        return Check(
            name,
            FAIL,
            f"{host} is only reachable from inside your network; providers call from the "
            "internet. Use the public host name of your TLS endpoint.",
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return Check(
            name,
            FAIL if literal.is_private else WARN,
            f"{host} is an IP address; Google requires a domain name with a valid "
            "certificate for push channels. Use a DNS name.",
        )
    if resolve:
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(3):
                infos = await loop.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            return Check(
                name,
                WARN,
                f"{host} does not resolve from this machine: make sure its DNS record "
                f"exists publicly (providers will call {hooks}).",
            )
        addresses = {str(info[4][0]) for info in infos}
        private = sorted(a for a in addresses if not ipaddress.ip_address(a).is_global)
        if private and len(private) == len(addresses):
            return Check(
                name,
                WARN,
                f"{host} resolves only to non-public addresses ({', '.join(private)}) from "
                "here; that is fine behind split DNS, otherwise providers cannot reach it.",
            )
    return Check(name, OK, f"providers will call {hooks}.")


# --- with the database ----------------------------------------------------------------


async def check_migrations(engine: AsyncEngine) -> Check:
    from spacecal.db.migrate import head_revision

    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        current = (
            await conn.scalar(text("SELECT version_num FROM alembic_version")) if exists else None
        )
    head = head_revision()
    if current is None:
        return Check(
            "migrations", FAIL, "the database has no spacecal schema: run `spacecal db upgrade`."
        )
    if current == head:
        return Check("migrations", OK, f"schema current (revision {current}).")
    from alembic.script import ScriptDirectory

    from spacecal.db.migrate import alembic_config

    known = {s.revision for s in ScriptDirectory.from_config(alembic_config("")).walk_revisions()}
    if current not in known:
        return Check(
            "migrations",
            FAIL,
            f"the database is at revision {current}, newer than this spacecal ({head}): "
            "run the same spacecal version as the other machines.",
        )
    return Check(
        "migrations",
        WARN,
        f"the schema is at {current}, this spacecal expects {head}: run `spacecal db "
        "upgrade` (serve and worker also apply it when they start).",
    )


async def check_key_fingerprint(engine: AsyncEngine, cipher: Any) -> Check:
    from spacecal.crypto import FINGERPRINT_META_KEY

    name = "key fingerprint"
    if cipher is None:
        return Check(name, WARN, "no usable keys to compare with the database (see above).")
    async with engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT value FROM spacecal_meta WHERE key = :key"),
            {"key": FINGERPRINT_META_KEY},
        )
    if stored is None:
        return Check(
            name, OK, "no fingerprint stored yet: the first start stores the newest key's."
        )
    if stored not in cipher.fingerprints():
        return Check(
            name,
            FAIL,
            f"the database's tokens are encrypted with key {stored}, which is not among "
            "SPACECAL_SECRET_KEYS: every process will refuse to start. Use the keys this "
            "database was set up with (newest first).",
        )
    if stored != cipher.primary_fingerprint:
        return Check(
            name,
            WARN,
            f"stored tokens are under the older key {stored}: run `spacecal keys reencrypt`, "
            "then the older key can be removed from SPACECAL_SECRET_KEYS.",
        )
    return Check(name, OK, f"the database's tokens are under the newest key ({stored}).")


async def check_clock(engine: AsyncEngine, now: Any) -> Check:
    """`now`: spacecal's clock (a callable); the database's now() is read between two
    readings of it, and the midpoint compared."""
    async with engine.connect() as conn:
        before: datetime = now()
        started = time.monotonic()
        db_now: datetime = await conn.scalar(text("SELECT clock_timestamp()"))
        round_trip = time.monotonic() - started
    local = before + timedelta(seconds=round_trip / 2)
    skew = (db_now - local).total_seconds()
    side = "ahead of" if skew > 0 else "behind"
    text_ = f"the database's clock is {abs(skew):.1f} s {side} this machine's"
    if abs(skew) >= SKEW_FAIL_SECONDS:
        return Check(
            "clock",
            FAIL,
            f"{text_}: token and subscription expiry and stalled-job detection go wrong. "
            "Run time synchronisation (chrony or systemd-timesyncd) on both machines.",
        )
    if abs(skew) >= SKEW_WARN_SECONDS:
        return Check("clock", WARN, f"{text_}: check time synchronisation on both machines.")
    return Check("clock", OK, f"{text_} (within {SKEW_WARN_SECONDS:.0f} s).")


async def check_workers(engine: AsyncEngine) -> Check:
    async with engine.connect() as conn:
        alive = await job_status.workers_alive(conn, within_seconds=WORKER_ALIVE_SECONDS)
    if not alive:
        return Check(
            "workers",
            FAIL,
            f"no worker has reported in the last {WORKER_ALIVE_SECONDS:.0f} s: notifications "
            "are recorded but nothing syncs. Start `spacecal worker` (or `spacecal serve` "
            "without --no-worker).",
        )
    return Check("workers", OK, f"{alive} worker(s) alive.")


async def check_queue(engine: AsyncEngine) -> Check:
    async with engine.connect() as conn:
        runnable, oldest = await job_status.runnable(conn)
        running = await job_status.running(conn)
        marks, first_mark, db_now = (
            await conn.execute(
                text(
                    "SELECT count(*), min(sync_requested_at), now() FROM connections"
                    " WHERE sync_requested_at IS NOT NULL"
                )
            )
        ).one()
    waited = (db_now - oldest).total_seconds() if oldest is not None else 0.0
    mark_age = (db_now - first_mark).total_seconds() if first_mark is not None else 0.0
    facts = (
        f"{runnable} job(s) waiting, {running} running, {marks} notified connection(s) to dispatch"
    )
    if marks and mark_age > MARK_WAIT_WARN_SECONDS:
        return Check(
            "queue",
            WARN,
            f"{facts}; the oldest notification waits {mark_age:.0f} s for the dispatcher: "
            "is a worker running? (`spacecal worker`).",
        )
    if runnable and waited > QUEUE_WAIT_WARN_SECONDS:
        return Check(
            "queue",
            WARN,
            f"{facts}; the oldest waits {waited:.0f} s: the workers are behind. Add workers "
            "or raise --concurrency.",
        )
    return Check("queue", OK, facts + ".")


async def check_connections(engine: AsyncEngine, now: datetime, soon: timedelta) -> Check:
    from sqlalchemy import func, select

    from spacecal.admin.health import EXPIRING, FAILING, NEEDS_RECONNECT, state_expr
    from spacecal.db.models import Connection, ProviderAccount

    state = state_expr(now, soon)
    query = (
        select(state, func.count())
        .select_from(Connection)
        .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .group_by(state)
    )
    async with engine.connect() as conn:
        counts = {str(s): int(n) for s, n in (await conn.execute(query)).all()}
    total = sum(counts.values())
    summary = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(counts.items())) or "none"
    advice = []
    if counts.get(FAILING):
        advice.append("see `spacecal connections list --health failing`")
    if counts.get(EXPIRING):
        advice.append("renewal is overdue: `spacecal connections renew --health expiring`")
    reconnect = counts.get(NEEDS_RECONNECT, 0)
    note = f" ({reconnect} wait for their member to reconnect)" if reconnect else ""
    if advice:
        return Check("connections", WARN, f"{total}: {summary}; " + "; ".join(advice) + ".")
    return Check("connections", OK, f"{total}: {summary}{note}.")
