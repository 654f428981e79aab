"""Webhook intake: verify, record the trigger durably, then acknowledge.

Verification comes first and uses only our own tables: the Google channel (or Graph
subscription) must be known and not stopped, and its token (clientState) must match
the generation's secret (stored as a keyed hash), compared in constant time. Old and
new generations overlap during renewal, so both are accepted until the old one is
stopped.

A verified notification commits a mark on its connection (`sync_requested_at`, kept
from the first notification; `notifications_pending` + 1; the first notification's
trace id) and `last_notification_at`, in one statement; the answer is 2xx only after
that commit. Concurrent requests share their lookup and their mark statement
(group commit, sync/intake/coalesce.py): under a burst one round trip serves many requests,
each still answered only after the statement holding its mark committed. The
worker's dispatcher (sync/intake/dispatch.py) turns marks into reconcile
jobs in batches: a job insert per request would fire procrastinate's NOTIFY trigger,
whose commits PostgreSQL serialises. A database failure answers 503, so the provider
delivers again. Unknown or stopped
channels are acknowledged and ignored (they keep talking for a while after a stop).
Forged or malformed requests change nothing and are counted. No provider I/O here.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg.errors import DeadlockDetected
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock, jsontext
from spacecal.crypto import TokenCipher
from spacecal.metrics import NOTIFICATIONS
from spacecal.sync.intake import dispatch
from spacecal.sync.intake.coalesce import Coalescer
from spacecal.sync.intake.lifecycle import EVENTS as LIFECYCLE_EVENTS
from spacecal.sync.intake.lifecycle import LifecycleEvent, record_lifecycle

log = logging.getLogger("spacecal.webhooks")

MAX_ITEMS = 1000  # Graph batches; far above what one POST carries


@dataclass(frozen=True)
class Generation:
    connection_id: int | None
    account_id: int | None
    secret: str
    status: str


@dataclass(frozen=True)
class _Mark:
    connection_id: int
    count: int
    trace: str | None


_LOOKUP = text(
    "SELECT g.subscription_id, g.connection_id, g.secret, g.status, c.provider_account_id"
    " FROM subscription_generations g LEFT JOIN connections c ON c.id = g.connection_id"
    " WHERE g.provider = :provider AND g.subscription_id = ANY(CAST(:ids AS text[]))"
)
# One statement for a batch of marks: each connection's first notification time and
# trace kept (SET reads the old row, so the CASE sees the mark as it was), counts
# added. The rows are locked first, in id order (`locked`: a CTE with FOR UPDATE is
# never inlined, and its sort runs below the lock): the UPDATE's own join visits rows
# in whatever order its plan chose, and two API processes' batches that shared rows
# deadlocked on that (CI: 503s under a storm).
_MARK = text(
    "WITH m AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[]),"
    " CAST(:traces AS text[])) AS m(id, n, trace)),"
    " locked AS (SELECT c.id FROM connections c WHERE c.id IN (SELECT id FROM m)"
    " ORDER BY c.id FOR UPDATE)"
    " UPDATE connections c SET last_notification_at = :now,"
    " sync_requested_at = COALESCE(c.sync_requested_at, :now),"
    " sync_requested_trace = CASE WHEN c.sync_requested_at IS NULL THEN m.trace"
    " ELSE c.sync_requested_trace END,"
    " notifications_pending = c.notifications_pending + m.n"
    " FROM m JOIN locked ON locked.id = m.id"
    " WHERE c.id = m.id"
)
# A deadlock with another writer of these rows aborts the statement whole, so running
# it again is exact; past these attempts the request answers 503 and is redelivered.
_MARK_ATTEMPTS = 3


def _mark_params(marks: Iterable[_Mark]) -> dict[str, Any]:
    counts: dict[int, int] = {}
    traces: dict[int, str | None] = {}
    for m in marks:
        counts[m.connection_id] = counts.get(m.connection_id, 0) + m.count
        if traces.get(m.connection_id) is None:
            traces[m.connection_id] = m.trace
    ids = sorted(counts)
    return {
        "now": clock.now(),
        "ids": ids,
        "counts": [counts[i] for i in ids],
        "traces": [traces[i] for i in ids],
    }


class _Intake:
    """One process's (event loop's) group commit on one engine (sync/intake/coalesce.py):
    the channel lookups and the marks of concurrent requests, one statement each."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Autocommit: a lookup or a mark is one statement, one round trip, no BEGIN.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.lookups: Coalescer[tuple[str, str], Generation | None] = Coalescer(
            self._lookup, default=None
        )
        self.marks: Coalescer[_Mark, None] = Coalescer(self._mark, default=None)

    async def _lookup(
        self, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], Generation | None]:
        wanted: dict[str, set[str]] = {}
        for provider, sub_id in keys:
            wanted.setdefault(provider, set()).add(sub_id)
        found: dict[tuple[str, str], Generation | None] = {}
        async with self.engine.connect() as conn:
            for provider, ids in sorted(wanted.items()):
                rows = await conn.execute(_LOOKUP, {"provider": provider, "ids": sorted(ids)})
                for r in rows:
                    found[(provider, r.subscription_id)] = Generation(
                        r.connection_id, r.provider_account_id, r.secret, r.status
                    )
        return found

    async def _mark(self, marks: list[_Mark]) -> dict[_Mark, None]:
        params = _mark_params(marks)
        for attempt in range(1, _MARK_ATTEMPTS + 1):
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(_MARK, params)
                break
            except DBAPIError as exc:
                if attempt == _MARK_ATTEMPTS or not isinstance(exc.orig, DeadlockDetected):
                    raise
                log.warning("marking notifications deadlocked; running it again")
        dispatch.wake()
        return {}


_INTAKES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _Intake]] = (
    weakref.WeakKeyDictionary()
)


def _intake(engine: AsyncEngine) -> _Intake:
    per_loop = _INTAKES.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(id(engine))
    if found is None or found.engine.sync_engine.pool is not engine.sync_engine.pool:
        found = per_loop[id(engine)] = _Intake(engine)
    return found


async def _generations(
    engine: AsyncEngine, provider: str, ids: Iterable[str]
) -> dict[str, Generation]:
    wanted = sorted(set(ids))
    intake = _intake(engine)
    found = await asyncio.gather(*(intake.lookups.submit((provider, i)) for i in wanted))
    return {i: g for i, g in zip(wanted, found, strict=True) if g is not None}


async def mark_notified(
    engine: AsyncEngine,
    notified: Mapping[int, int | None],
    lifecycle: list[LifecycleEvent] | None = None,
    *,
    counts: Mapping[int, int] | None = None,
    trace: str | None = None,
) -> None:
    """Mark each connection in `notified` (id → account id) as notified (`counts`
    notifications each, default 1), and record lifecycle events, durably before
    returning. Raises on a database failure (the caller answers 503). Plain marks
    share a statement with concurrent requests; lifecycle events take a transaction
    of their own."""
    if not notified and not lifecycle:
        return
    marks = [_Mark(i, (counts or {}).get(i, 1), trace) for i in sorted(notified)]
    if not lifecycle:
        intake = _intake(engine)
        await asyncio.gather(*(intake.marks.submit(m) for m in marks))
        return
    async with engine.begin() as conn:
        if marks:
            await conn.execute(_MARK, _mark_params(marks))
        await record_lifecycle(conn, lifecycle)
    dispatch.wake()


async def google(
    engine: AsyncEngine,
    headers: Mapping[str, str],
    *,
    cipher: TokenCipher,
    trace: str | None = None,
) -> int:
    """Handle one Google push; returns the HTTP status to answer. `trace`: the
    request's trace id, kept on the mark for the reconcile it leads to."""
    channel = headers.get("x-goog-channel-id")
    state = headers.get("x-goog-resource-state")
    if not channel or not state or len(channel) > 200:
        NOTIFICATIONS.labels("google", "malformed").inc()
        return 400
    generation = (await _generations(engine, "google", [channel])).get(channel)
    if generation is None or generation.status == "stopped" or generation.connection_id is None:
        NOTIFICATIONS.labels("google", "unknown_channel").inc()
        return 200
    if not cipher.secret_matches(headers.get("x-goog-channel-token"), generation.secret):
        NOTIFICATIONS.labels("google", "forged").inc()
        log.warning("google notification with a wrong channel token")
        return 401
    if state == "sync":
        # The channel is live; nothing changed yet.
        NOTIFICATIONS.labels("google", "sync").inc()
        return 200
    try:
        await mark_notified(engine, {generation.connection_id: generation.account_id}, trace=trace)
    except SQLAlchemyError:
        log.exception("could not record a google notification")
        NOTIFICATIONS.labels("google", "error").inc()
        return 503
    NOTIFICATIONS.labels("google", "accepted").inc()
    return 200


def parse_graph_items(body: bytes) -> list[dict[str, Any]] | None:
    try:
        payload = jsontext.loads(body)  # NaN, Infinity, 1e309: malformed, not a 500
    except (ValueError, RecursionError):
        return None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        return None
    return [item for item in items if isinstance(item, dict)]


async def microsoft(
    engine: AsyncEngine,
    body: bytes,
    *,
    cipher: TokenCipher,
    lifecycle: bool = False,
    trace: str | None = None,
) -> int:
    """Handle one Graph POST (change or lifecycle notifications); the status to answer.

    Lifecycle events (sync/intake/lifecycle.py) reconcile now and record what the keep-alive
    job must do: `reauthorizationRequired` → PATCH (reauthorize), `subscriptionRemoved`
    → a new subscription and a full resync, `missed` → a full resync."""
    kind = "lifecycle" if lifecycle else "change"
    items = parse_graph_items(body)
    if items is None:
        NOTIFICATIONS.labels("microsoft", "malformed").inc()
        return 400
    ids = [str(i.get("subscriptionId")) for i in items if i.get("subscriptionId")]
    generations = await _generations(engine, "microsoft", ids)
    notified: dict[int, int | None] = {}
    counts: dict[int, int] = {}
    events: list[LifecycleEvent] = []
    for item in items:
        sub_id = str(item.get("subscriptionId") or "")
        generation = generations.get(sub_id)
        if generation is None or generation.status == "stopped" or generation.connection_id is None:
            NOTIFICATIONS.labels("microsoft", "unknown_subscription").inc()
            continue
        # Anything but a non-empty string (a number, list, object, true, null) is
        # forged; secrets are stored hashed (TokenCipher.secret_matches).
        if not cipher.secret_matches(item.get("clientState"), generation.secret):
            NOTIFICATIONS.labels("microsoft", "forged").inc()
            log.warning("graph %s notification with a wrong clientState", kind)
            continue
        event = str(item.get("lifecycleEvent") or "")
        if lifecycle and event in LIFECYCLE_EVENTS:
            events.append(
                LifecycleEvent(event, sub_id, generation.connection_id, generation.account_id)
            )
        notified[generation.connection_id] = generation.account_id
        # Lifecycle events are about the subscription, not the member's changes.
        counts[generation.connection_id] = counts.get(generation.connection_id, 0) + (
            0 if lifecycle else 1
        )
    try:
        await mark_notified(engine, notified, events, counts=counts, trace=trace)
    except SQLAlchemyError:
        log.exception("could not record graph notifications")
        NOTIFICATIONS.labels("microsoft", "error").inc()
        return 503
    if notified:
        NOTIFICATIONS.labels("microsoft", "accepted").inc(len(notified))
    return 202
