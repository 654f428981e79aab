"""Changes made elsewhere (the records API) that must reach members' calendars.

- A resource or business renamed: each affected connection's Name becomes the new
  calendar name and is flagged `rename_pending`; the keep-alive job (one per
  connection, under the account lock) renames the calendar at the provider.
- A resource made unbookable, or deleted: its connections are disconnected. Their
  subscriptions are marked `stopping` with the account that can stop them, the
  connection rows are deleted (bookings stay), and `stop_orphans` stops them at the
  provider after the commit. The calendars are kept, each owed a note saying spacecal
  no longer syncs it and why (sync/upkeep/detached_calendars.py; Google: the description, Graph: a
  name suffix, as Graph calendars have no description), written by the same job.
- A member (coworker) deleted: their provider accounts go with the row (cascade), so
  their subscriptions are stopped inline, best effort within the disconnect budget,
  by the app's provisioner (bound by spacecal.app); the rest lapse at their expiry (their
  notifications are ignored: no connection any more).

The hooks run inside the API's transaction and make no provider call, except the
bounded best-effort stop for a deleted member (as the connection DELETE does).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, exists, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.db.models import (
    Booking,
    Business,
    Connection,
    Resource,
    SubscriptionGeneration,
)
from spacecal.sync.accounts.disconnect import stop_generations
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.naming import calendar_name
from spacecal.sync.reconcile.target import calendar_verified
from spacecal.sync.upkeep.detached_calendars import Detached, record_detached
from spacecal.sync.upkeep.keepalive import defer_keepalive
from spacecal.sync.upkeep.orphan_channels import defer_stop_orphans

log = logging.getLogger("spacecal.changes")

# --- renames --------------------------------------------------------------------------


async def _rename_connections(conn: AsyncConnection, resource_ids: list[int]) -> None:
    if not resource_ids:
        return
    rows = (
        await conn.execute(
            select(
                Connection.id,
                Connection.provider_account_id,
                Resource.name.label("resource"),
                Business.name.label("business"),
            )
            .join(Resource, Resource.id == Connection.resource_id)
            .join(Business, Business.id == Resource.business_id)
            .where(Connection.resource_id.in_(resource_ids))
        )
    ).all()
    for r in rows:
        await conn.execute(
            update(Connection)
            .where(Connection.id == r.id)
            .values(
                name=calendar_name(r.resource, r.business),
                rename_pending=True,
                updated_on=clock.now(),
            )
        )
        await defer_keepalive(conn, r.id, r.provider_account_id)


# --- disconnects ----------------------------------------------------------------------


async def disconnect_where(conn: AsyncConnection, *conditions: Any, why: str) -> int:
    """Disconnect the matching connections in `conn`'s transaction, with no provider
    call: open generations become `stopping` (keeping their account), each kept
    calendar is owed a note (`why` completes "Resource (Business) …"), the rows go,
    and a `stop_orphans` job per account settles both after the commit."""
    rows = (
        await conn.execute(
            select(
                Connection.id,
                Connection.provider_account_id,
                Connection.provider,
                Connection.calendar_id,
                calendar_verified().label("verified"),
                Connection.name,
                Resource.name.label("resource"),
                Business.name.label("business"),
                Business.time_zone,
            )
            .join(Resource, Resource.id == Connection.resource_id)
            .join(Business, Business.id == Resource.business_id)
            .where(*conditions)
        )
    ).all()
    if not rows:
        return 0
    now = clock.now()
    await record_detached(
        conn,
        [
            Detached(
                connection_id=r.id,
                account_id=r.provider_account_id,
                provider=r.provider,
                calendar_id=r.calendar_id,
                name=r.name,
                resource=r.resource,
                business=r.business,
                time_zone=r.time_zone,
            )
            for r in rows
            # A calendar not verified as spacecal's gets no note (reconcile/verify.py).
            if r.provider_account_id is not None and r.calendar_id is not None and r.verified
        ],
        why,
        now,
    )
    for connection_id, account_id, *_ in rows:
        await conn.execute(
            update(SubscriptionGeneration)
            .where(
                SubscriptionGeneration.connection_id == connection_id,
                SubscriptionGeneration.status.in_(["live", "stopping"]),
            )
            .values(status="stopping", provider_account_id=account_id)
        )
    ids = [r.id for r in rows]
    await conn.execute(delete(Connection).where(Connection.id.in_(ids)))
    for account_id in sorted({r.provider_account_id for r in rows if r.provider_account_id}):
        await defer_stop_orphans(conn, account_id)
    return len(ids)


# --- record hooks (spacecal.records.definitions) ------------------------------------------------


async def resource_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    if old is None:
        return
    resource_id = int(old["id"])
    if values.get("bookable") is False and old.get("bookable"):
        await disconnect_where(
            conn, Connection.resource_id == resource_id, why="was made unbookable"
        )
        return
    if "name" in values and values["name"] != old.get("name"):
        # The row is written after this hook: rename from the new name.
        await conn.execute(
            update(Resource).where(Resource.id == resource_id).values(name=values["name"])
        )
        await _rename_connections(conn, [resource_id])


_AVAILABILITY = ("availability_days_ahead", "availability_shows_names")
# Every live booking of the business still to end, as a booking change: the dispatcher
# marks the calendars whose blocks it changes (sync/intake/dispatch.py).
_BLOCKS_CHANGED = text(
    "INSERT INTO booking_changes (booking_id, created_at)"
    " SELECT b.id, :now FROM bookings b JOIN resources r ON r.id = b.resource_id"
    " WHERE r.business_id = :business AND b.cancelled_at IS NULL AND b.to_time > :now"
)


async def business_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    if old is not None and any(c in values and values[c] != old.get(c) for c in _AVAILABILITY):
        # Blocks appear, go or are retitled now, not at the next sweep.
        await conn.execute(_BLOCKS_CHANGED, {"business": int(old["id"]), "now": clock.now()})
    if old is None or "name" not in values or values["name"] == old.get("name"):
        return
    business_id = int(old["id"])
    await conn.execute(
        update(Business).where(Business.id == business_id).values(name=values["name"])
    )
    ids = (await conn.scalars(select(Resource.id).where(Resource.business_id == business_id))).all()
    await _rename_connections(conn, list(ids))


async def resource_on_delete(conn: AsyncConnection, old: Mapping[str, Any]) -> bool:
    """Disconnect first, so the delete is not refused for its connections; a resource
    that still has bookings is left alone (the delete is refused for those, as
    before, and nothing was disconnected)."""
    resource_id = int(old["id"])
    has_bookings = await conn.scalar(select(exists().where(Booking.resource_id == resource_id)))
    if not has_bookings:
        await disconnect_where(conn, Connection.resource_id == resource_id, why="was removed")
    return False


async def coworker_on_delete(
    prov: Provisioner, conn: AsyncConnection, old: Mapping[str, Any]
) -> bool:
    """The member's accounts are deleted with the row: stop their subscriptions now,
    best effort, then drop the connections (bookings stay). The composition root
    (spacecal.app) binds `prov`, the running application's."""
    coworker_id = int(old["id"])
    ids = (
        await conn.scalars(select(Connection.id).where(Connection.coworker_id == coworker_id))
    ).all()
    for connection_id in ids:
        await stop_generations(prov, connection_id, conn=conn)
    if ids:
        await conn.execute(
            update(SubscriptionGeneration)
            .where(
                SubscriptionGeneration.connection_id.in_(ids),
                SubscriptionGeneration.status == "live",
            )
            .values(status="stopping")
        )
        await conn.execute(delete(Connection).where(Connection.id.in_(ids)))
    return False
