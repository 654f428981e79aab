"""The console's buttons, each one a level-triggered request the sync machinery
already knows how to serve (DESIGN, principle 3):

- resync now: `resync_requested` and a keep-alive job, in one transaction. The job
  (sync/upkeep/keepalive.py) clears the cursor and queues a reconcile, whose full pull
  replaces it (DESIGN, Full resync). Should the job be lost, the keep-alive pass
  finds the flag within a minute.
- renew now: `renew_requested` and a keep-alive job: the job makes a new channel
  (Google) or renews the subscription (Graph), then clears the flag.
- disconnect: what the member's "remove" does (sync/accounts/disconnect.py): stop the push at
  the provider (best effort), forget the connection; bookings stay.

Each is logged with the admin's email, so the log says who did what.
"""

from __future__ import annotations

import logging
from enum import Enum

from sqlalchemy import select, update

from spacecal.db.models import Connection, ProviderAccount
from spacecal.sync.accounts.disconnect import remove_connection
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.upkeep.keepalive import defer_keepalive

log = logging.getLogger("spacecal.admin")


class Outcome(Enum):
    QUEUED = "queued"  # the job is queued (or one was already: it will see the flag)
    WAITS_FOR_RECONNECT = "waits_for_reconnect"  # flag set; runs once the member reconnects
    NOT_WATCHED = "not_watched"  # renew asked of a calendar that cannot be watched
    GONE = "gone"


async def _request(prov: Provisioner, connection_id: int, flag: str, admin_email: str) -> Outcome:
    async with prov.engine.begin() as conn:
        row = (
            await conn.execute(
                select(
                    Connection.provider_account_id,
                    Connection.calendar_id,
                    Connection.push_supported,
                    ProviderAccount.status,
                )
                .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
                .where(Connection.id == connection_id)
                .with_for_update(of=Connection)
            )
        ).first()
        if row is None:
            return Outcome.GONE
        if flag == "renew_requested" and not row.push_supported:
            # No subscription to renew: the calendar is polled (the flag would never clear).
            return Outcome.NOT_WATCHED
        await conn.execute(
            update(Connection).where(Connection.id == connection_id).values({flag: True})
        )
        ready = row.status == "active" and row.calendar_id is not None
        if ready:
            await defer_keepalive(conn, connection_id, row.provider_account_id)
    log.info(
        "admin %s requested %s of connection %s",
        admin_email,
        flag.removesuffix("_requested"),
        connection_id,
    )
    return Outcome.QUEUED if ready else Outcome.WAITS_FOR_RECONNECT


async def request_resync(prov: Provisioner, connection_id: int, admin_email: str) -> Outcome:
    return await _request(prov, connection_id, "resync_requested", admin_email)


async def request_renew(prov: Provisioner, connection_id: int, admin_email: str) -> Outcome:
    return await _request(prov, connection_id, "renew_requested", admin_email)


async def disconnect(prov: Provisioner, connection_id: int, admin_email: str) -> Outcome:
    async with prov.engine.connect() as conn:
        exists = await conn.scalar(select(Connection.id).where(Connection.id == connection_id))
    if exists is None:
        return Outcome.GONE
    await remove_connection(prov, connection_id)
    log.info("admin %s disconnected connection %s", admin_email, connection_id)
    return Outcome.QUEUED
