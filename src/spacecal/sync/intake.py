"""Webhook intake: verify, record the trigger durably, then acknowledge.

Verification comes first and uses only our own tables: the Google channel (or Graph
subscription) must be known and not stopped, and its token (clientState) must match
the generation's secret, compared in constant time. Old and new generations overlap
during renewal, so both are accepted until the old one is stopped.

A verified notification commits a mark on its connection (`sync_requested_at`, kept
from the first notification; `notifications_pending` + 1; the first notification's
trace id) and `last_notification_at`, in one statement; the answer is 2xx only after
that commit. The worker's dispatcher (sync/dispatch.py) turns marks into reconcile
jobs in batches: a job insert per request would fire procrastinate's NOTIFY trigger,
whose commits PostgreSQL serialises. A database failure answers 503, so the provider
delivers again. Unknown or stopped
channels are acknowledged and ignored (they keep talking for a while after a stop).
Forged or malformed requests change nothing and are counted. No provider I/O here.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.db.models import Connection, SubscriptionGeneration
from spacecal.metrics import NOTIFICATIONS
from spacecal.sync.lifecycle import EVENTS as LIFECYCLE_EVENTS
from spacecal.sync.lifecycle import LifecycleEvent, record_lifecycle

log = logging.getLogger("spacecal.webhooks")

MAX_ITEMS = 1000  # Graph batches; far above what one POST carries


@dataclass(frozen=True)
class Generation:
    connection_id: int | None
    account_id: int | None
    secret: str
    status: str


async def _generations(
    engine: AsyncEngine, provider: str, ids: Iterable[str]
) -> dict[str, Generation]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        rows = (
            await conn.execute(
                select(
                    SubscriptionGeneration.subscription_id,
                    SubscriptionGeneration.connection_id,
                    SubscriptionGeneration.secret,
                    SubscriptionGeneration.status,
                    Connection.provider_account_id,
                )
                .outerjoin(Connection, Connection.id == SubscriptionGeneration.connection_id)
                .where(
                    SubscriptionGeneration.provider == provider,
                    SubscriptionGeneration.subscription_id.in_(wanted),
                )
            )
        ).all()
    return {
        r.subscription_id: Generation(r.connection_id, r.provider_account_id, r.secret, r.status)
        for r in rows
    }


def _secret_matches(given: str | None, expected: str) -> bool:
    return hmac.compare_digest((given or "").encode(), expected.encode())


# One statement: a mark per connection, the first notification's time and trace kept
# (SET reads the old row, so the CASE sees the mark as it was).
_MARK = text(
    "UPDATE connections c SET last_notification_at = :now,"
    " sync_requested_at = COALESCE(c.sync_requested_at, :now),"
    " sync_requested_trace = CASE WHEN c.sync_requested_at IS NULL THEN :trace"
    " ELSE c.sync_requested_trace END,"
    " notifications_pending = c.notifications_pending + m.n"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:counts AS integer[])) AS m(id, n)"
    " WHERE c.id = m.id"
)


async def trigger(
    engine: AsyncEngine,
    targets: Mapping[int, int | None],
    lifecycle: list[LifecycleEvent] | None = None,
    *,
    counts: Mapping[int, int] | None = None,
    trace: str | None = None,
) -> None:
    """Mark each connection in `targets` (id → account id) as notified (`counts`
    notifications each, default 1), and record lifecycle events, in one transaction.
    Raises on a database failure (the caller answers 503)."""
    if not targets and not lifecycle:
        return
    ids = sorted(targets)
    params = {
        "now": clock.now(),
        "trace": trace,
        "ids": ids,
        "counts": [(counts or {}).get(i, 1) for i in ids],
    }
    if not lifecycle:
        # A single statement commits on its own: no BEGIN/COMMIT round trips.
        async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            await conn.execute(_MARK, params)
        return
    async with engine.begin() as conn:
        if ids:
            await conn.execute(_MARK, params)
        await record_lifecycle(conn, lifecycle)


async def google(
    engine: AsyncEngine, headers: Mapping[str, str], *, trace: str | None = None
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
    if not _secret_matches(headers.get("x-goog-channel-token"), generation.secret):
        NOTIFICATIONS.labels("google", "forged").inc()
        log.warning("google notification with a wrong channel token")
        return 401
    if state == "sync":
        # The channel is live; nothing changed yet.
        NOTIFICATIONS.labels("google", "sync").inc()
        return 200
    try:
        await trigger(engine, {generation.connection_id: generation.account_id}, trace=trace)
    except SQLAlchemyError:
        log.exception("could not record a google notification")
        NOTIFICATIONS.labels("google", "error").inc()
        return 503
    NOTIFICATIONS.labels("google", "accepted").inc()
    return 200


def parse_graph_items(body: bytes) -> list[dict[str, Any]] | None:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    items = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        return None
    return [item for item in items if isinstance(item, dict)]


async def microsoft(
    engine: AsyncEngine, body: bytes, *, lifecycle: bool = False, trace: str | None = None
) -> int:
    """Handle one Graph POST (change or lifecycle notifications); the status to answer.

    Lifecycle events (sync/lifecycle.py) reconcile now and record what the keep-alive
    job must do: `reauthorizationRequired` → PATCH (reauthorize), `subscriptionRemoved`
    → a new subscription and a full resync, `missed` → a full resync."""
    kind = "lifecycle" if lifecycle else "change"
    items = parse_graph_items(body)
    if items is None:
        NOTIFICATIONS.labels("microsoft", "malformed").inc()
        return 400
    ids = [str(i.get("subscriptionId")) for i in items if i.get("subscriptionId")]
    generations = await _generations(engine, "microsoft", ids)
    targets: dict[int, int | None] = {}
    counts: dict[int, int] = {}
    events: list[LifecycleEvent] = []
    for item in items:
        sub_id = str(item.get("subscriptionId") or "")
        generation = generations.get(sub_id)
        if generation is None or generation.status == "stopped" or generation.connection_id is None:
            NOTIFICATIONS.labels("microsoft", "unknown_subscription").inc()
            continue
        if not _secret_matches(item.get("clientState"), generation.secret):
            NOTIFICATIONS.labels("microsoft", "forged").inc()
            log.warning("graph %s notification with a wrong clientState", kind)
            continue
        event = str(item.get("lifecycleEvent") or "")
        if lifecycle and event in LIFECYCLE_EVENTS:
            events.append(
                LifecycleEvent(event, sub_id, generation.connection_id, generation.account_id)
            )
        targets[generation.connection_id] = generation.account_id
        # Lifecycle events are about the subscription, not the member's changes.
        counts[generation.connection_id] = counts.get(generation.connection_id, 0) + (
            0 if lifecycle else 1
        )
    try:
        await trigger(engine, targets, events, counts=counts, trace=trace)
    except SQLAlchemyError:
        log.exception("could not record graph notifications")
        NOTIFICATIONS.labels("microsoft", "error").inc()
        return 503
    if targets:
        NOTIFICATIONS.labels("microsoft", "accepted").inc(len(targets))
    return 202
