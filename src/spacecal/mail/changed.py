"""A booking that came from the member's invitation, changed elsewhere (the portal,
the API, an operator): the organizer's calendar still shows the room as accepted, so
the room says otherwise. A cancel is a REPLY DECLINED with the reason; a move is a
REPLY DECLINED saying where the booking is now, followed by a new REQUEST organised
by the room's address (mail/elsewhere.py sends it: the row left in `booking_invites`
at version 0 says the booking is owed one).

Level-triggered from the send pass: an instance row still `accepted` whose booking
is cancelled, or no longer at the row's span.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.domain.invitation_messages import Line
from spacecal.domain.messages import dated_span_label
from spacecal.domain.rules import BusinessRules
from spacecal.mail.decide import HEADER, Context, Reply
from spacecal.mail.replies import queue_reply

_CHANGED = text(
    "SELECT i.id, i.booking_id, i.coworker_id, i.resource_id, i.uid, i.instance_key, i.organizer,"
    " i.sequence, i.address, i.address_id, i.start_time, i.end_time, b.from_time, b.to_time,"
    " b.cancelled_at, m.email, r.name AS resource, z.name AS business, z.time_zone,"
    " z.max_booking_days_ahead"
    " FROM invitations i JOIN bookings b ON b.id = i.booking_id"
    " JOIN coworkers m ON m.id = i.coworker_id JOIN resources r ON r.id = i.resource_id"
    " JOIN businesses z ON z.id = r.business_id"
    " WHERE i.status = 'accepted' AND i.address <> '' AND b.to_time > :now"
    " AND (b.cancelled_at IS NOT NULL OR b.from_time <> i.start_time OR b.to_time <> i.end_time)"
    " ORDER BY i.id LIMIT 200 FOR UPDATE OF i SKIP LOCKED"
)
_OWE_REQUEST = text(
    "INSERT INTO booking_invites (booking_id, uid, version, cancelled, sent_at)"
    " VALUES (:booking, '', 0, false, :now) ON CONFLICT (booking_id) DO NOTHING"
)
_DONE = text(
    "UPDATE invitations SET status = :status, reason = :reason, start_time = :start,"
    " end_time = :end, updated_at = :now WHERE id = :id"
)


async def queue_changed_elsewhere(conn: AsyncConnection) -> list[int]:
    now = clock.now()
    queued = []
    for row in (await conn.execute(_CHANGED, {"now": now})).all():
        rules = BusinessRules(row.business, row.time_zone, row.max_booking_days_ahead)
        if row.cancelled_at is not None:
            reason = f"The booking of {row.resource} was cancelled in spacecal."
            status, span = "cancelled", (row.start_time, row.end_time)
        else:
            when = dated_span_label(row.from_time, row.to_time, rules.zone)
            reason = f"The booking of {row.resource} was moved in spacecal to {when}."
            status, span = "accepted", (row.from_time, row.to_time)
            await conn.execute(_OWE_REQUEST, {"booking": row.booking_id, "now": now})
        ctx = Context(
            conn=conn,
            now=now,
            member_id=row.coworker_id,
            resource_id=row.resource_id,
            resource_name=row.resource,
            zone=rules.zone,
            horizon_end=now,
            address_id=row.address_id,
            address=row.address,
            message_id=0,
            by=row.email,
        )
        original = (
            None
            if row.instance_key == HEADER
            else datetime.strptime(row.instance_key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        )
        line = Line(row.start_time, row.end_time, "declined", reason)
        queued.append(
            await queue_reply(
                ctx, conn, row.uid, row.organizer, Reply(original, row.sequence, line, False)
            )
        )
        await conn.execute(
            _DONE,
            {
                "status": status,
                "reason": reason,
                "start": span[0],
                "end": span[1],
                "now": now,
                "id": row.id,
            },
        )
    return queued
