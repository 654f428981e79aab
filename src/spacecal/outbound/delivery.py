"""Delivering one change to one webhook: render, sign, POST, then keep the books.

A job carries the trigger's snapshot; its first attempt renders the body once and a
retry carries those exact bytes, so every attempt of one delivery has the same body
(and the same X-Nexudus-Hook-Signature; X-Spacecal-Signature is stamped with the
time of each attempt). Bookkeeping and the next attempt commit together:

- success: ErrorCount 0, LastTrigger now;
- failure: ErrorCount + 1 and LastError; at `outbound_disable_after` consecutive
  failures the webhook is turned off (Active false, LastError says why); otherwise a
  retry is deferred after the failure policy's backoff (spacecal.failures,
  `Loop.DELIVERY`), up to `outbound_max_attempts`.

Retries are new jobs deferred by a delay (jobs.defer writes `now() + delay` on
PostgreSQL's clock, the one procrastinate fetches by; DESIGN, Time), not
procrastinate's retry, as the sync jobs do (DESIGN, Jobs). A webhook turned off or
deleted meanwhile gets nothing more.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx2
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import __version__, clock, jobs
from spacecal.config import Settings
from spacecal.crypto import KeyConfigurationError
from spacecal.db.engine import Database
from spacecal.db.models import WebHook
from spacecal.failures import Loop, backoff
from spacecal.jobs import names
from spacecal.outbound.render import render
from spacecal.outbound.send import SendResult, post
from spacecal.outbound.signing import SIGNATURE_HEADER, TIMESTAMPED_HEADER, sign, sign_timestamped

log = logging.getLogger("spacecal.outbound")


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    DISABLED = "disabled"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    attempt: int
    http_status: int | None = None
    error: str | None = None


async def defer_delivery(
    conn: AsyncConnection, args: dict[str, Any], *, delay_seconds: float | None = None
) -> None:
    """Queue a delivery in `conn`'s transaction, `delay_seconds` from now (None: at
    once). Deliveries have no lock and no queueing lock: each is its own."""
    await jobs.defer(
        conn, names.DELIVER, jobs.JobRow(None, None, args), delay_seconds=delay_seconds
    )


def encode(record: dict[str, Any]) -> str:
    """The body: a JSON array holding the one record (Nexudus's shape)."""
    return json.dumps([record], ensure_ascii=False, separators=(",", ":"))


async def deliver(
    db: Database,
    settings: Settings,
    client: httpx2.AsyncClient,
    *,
    webhook_id: int,
    action: str,
    record: str | None = None,
    snapshot: dict[str, Any] | None = None,
    body: str | None = None,
    attempt: int = 1,
) -> Outcome:
    async with db.engine.connect() as conn:
        hook = (
            await conn.execute(
                select(WebHook.active, WebHook.url, WebHook.secret_enc).where(
                    WebHook.id == webhook_id
                )
            )
        ).first()
        if hook is None or not hook.active:
            return Outcome(DeliveryStatus.SKIPPED, attempt)
        if body is None:
            if record is None or snapshot is None:
                raise ValueError("a delivery needs a body or a snapshot to render")
            body = encode(await render(conn, record, snapshot))
    payload = body.encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"spacecal/{__version__} (webhook)",
        "X-Spacecal-Action": action,
        "X-Spacecal-Attempt": str(attempt),
    }
    if hook.secret_enc is not None:
        try:
            secret = db.cipher.decrypt(hook.secret_enc)
            headers[SIGNATURE_HEADER] = sign(payload, secret)
            # Stamped per attempt, so a receiver can refuse a replay (signing.py).
            stamp = int(clock.now().timestamp())
            headers[TIMESTAMPED_HEADER] = sign_timestamped(payload, secret, stamp)
        except KeyConfigurationError:
            result = SendResult(
                False, None, "its Secret cannot be decrypted with the configured keys: set it again"
            )
            return await _failed(db, settings, webhook_id, action, body, attempt, result)
    result = await post(
        client,
        hook.url,
        payload,
        headers,
        timeout_seconds=settings.outbound_timeout_seconds,
        max_redirects=settings.outbound_max_redirects,
    )
    if result.ok:
        async with db.engine.begin() as conn:
            await conn.execute(
                update(WebHook)
                .where(WebHook.id == webhook_id)
                .values(error_count=0, last_trigger=clock.now())
            )
        log.info("webhook %s %s delivered (attempt %d)", webhook_id, action, attempt)
        return Outcome(DeliveryStatus.DELIVERED, attempt, result.status)
    return await _failed(db, settings, webhook_id, action, body, attempt, result)


async def _failed(
    db: Database,
    settings: Settings,
    webhook_id: int,
    action: str,
    body: str,
    attempt: int,
    result: SendResult,
) -> Outcome:
    error = result.error or "failed"
    limit = settings.outbound_disable_after
    now = clock.now()
    reached = WebHook.error_count + 1 >= limit
    turned_off = (
        f"Turned off after {limit} consecutive failed deliveries; the last: {error}. "
        "Fix the receiver, then set Active to true."
    )
    async with db.engine.begin() as conn:
        row = (
            await conn.execute(
                update(WebHook)
                .where(WebHook.id == webhook_id, WebHook.active)
                .values(
                    error_count=WebHook.error_count + 1,
                    active=case((reached, False), else_=True),
                    last_error=case((reached, turned_off), else_=error),
                    updated_on=case((reached, now), else_=WebHook.updated_on),
                )
                .returning(WebHook.active)
            )
        ).first()
        if row is None:  # turned off or deleted meanwhile
            return Outcome(DeliveryStatus.SKIPPED, attempt, result.status, error)
        if not row.active:
            log.warning("webhook %s turned off: %s", webhook_id, error)
            return Outcome(DeliveryStatus.DISABLED, attempt, result.status, error)
        if attempt < settings.outbound_max_attempts:
            retry = {"webhook_id": webhook_id, "action": action, "body": body}
            wait = backoff(settings, Loop.DELIVERY).delay(attempt).total_seconds()
            # no wait: runnable at once
            await defer_delivery(
                conn, {**retry, "attempt": attempt + 1}, delay_seconds=wait or None
            )
    log.info("webhook %s %s attempt %d failed: %s", webhook_id, action, attempt, error)
    return Outcome(DeliveryStatus.FAILED, attempt, result.status, error)
