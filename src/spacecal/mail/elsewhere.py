"""Bookings made elsewhere (the portal, the API, another calendar) for a member who
books a resource by invitation and has no calendar connected for it: they are sent
to the member as an iTIP REQUEST organised by the member's address for the resource,
with a stable UID per booking and SEQUENCE = the booking's version, and a CANCEL when
the booking is cancelled. The member's REPLY to one is recorded and never changes
the booking.

Level-triggered from the send pass: `booking_invites` remembers the version sent.
"""

from __future__ import annotations

from datetime import UTC, datetime

import icalendar
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.config import Settings
from spacecal.domain.messages import dated_span_label
from spacecal.domain.rules import BusinessRules
from spacecal.mail import addresses
from spacecal.mail.itip import PRODID
from spacecal.mail.outbox import queue_mail

_OWED = text(
    "SELECT b.id, b.version, b.from_time, b.to_time, b.cancelled_at, b.unique_id,"
    " b.coworker_id, b.resource_id, m.email, r.name AS resource, z.name AS business,"
    " z.time_zone, z.max_booking_days_ahead, s.version AS sent_version"
    " FROM bookings b JOIN coworkers m ON m.id = b.coworker_id"
    " JOIN resources r ON r.id = b.resource_id JOIN businesses z ON z.id = r.business_id"
    " LEFT JOIN booking_invites s ON s.booking_id = b.id"
    # An invitation's own booking is owed a REQUEST only once it was moved elsewhere
    # (mail/changed.py leaves a row at version 0 for it); before, the member's
    # invitation is its calendar copy.
    " WHERE (b.source <> 'invitation' OR s.booking_id IS NOT NULL)"
    " AND ((s.booking_id IS NULL AND b.cancelled_at IS NULL AND b.to_time > :now)"
    "      OR (s.booking_id IS NOT NULL AND NOT s.cancelled AND s.version < b.version))"
    " AND EXISTS (SELECT 1 FROM invitations i WHERE i.coworker_id = b.coworker_id"
    "             AND i.resource_id = b.resource_id)"
    " AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.coworker_id = b.coworker_id"
    "                 AND c.resource_id = b.resource_id)"
    " ORDER BY b.id LIMIT :limit FOR UPDATE OF b SKIP LOCKED"
)
_SENT = text(
    "INSERT INTO booking_invites (booking_id, uid, version, cancelled, sent_at)"
    " VALUES (:booking, :uid, :version, :cancelled, :now)"
    " ON CONFLICT (booking_id) DO UPDATE SET uid = EXCLUDED.uid, version = EXCLUDED.version,"
    " cancelled = EXCLUDED.cancelled, sent_at = EXCLUDED.sent_at"
)
_REPLIED = text(
    "UPDATE booking_invites SET partstat = :partstat, replied_at = :now"
    " WHERE uid = :uid AND booking_id IN (SELECT id FROM bookings WHERE coworker_id = :member)"
    " RETURNING booking_id"
)
BATCH = 200


def booking_uid(unique_id: object, domain: str) -> str:
    return f"booking-{unique_id}@{domain}"


def _calendar(
    method: str,
    uid: str,
    version: int,
    organizer: str,
    attendee: str,
    span: tuple[datetime, datetime],
    summary: str,
) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", method)
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("SEQUENCE", version)
    event.add("DTSTAMP", clock.now().astimezone(UTC))
    event.add("DTSTART", span[0].astimezone(UTC))
    event.add("DTEND", span[1].astimezone(UTC))
    event.add("SUMMARY", summary)
    event.add("STATUS", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{organizer}"))
    who = icalendar.vCalAddress(f"mailto:{attendee}")
    who.params["PARTSTAT"] = "NEEDS-ACTION"
    who.params["RSVP"] = "TRUE" if method == "REQUEST" else "FALSE"
    event.add("ATTENDEE", who)
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


async def queue_elsewhere(conn: AsyncConnection, settings: Settings) -> list[int]:
    """Queue the REQUESTs and CANCELs owed to invitation members (caller's transaction)."""
    domain = settings.mail_domain
    if not domain:
        return []
    now = clock.now()
    queued = []
    for row in (await conn.execute(_OWED, {"now": now, "limit": BATCH})).all():
        slug = await addresses.slug_of(conn, row.resource_id)
        token = await addresses.current_token(conn, row.coworker_id, row.resource_id)
        organizer = addresses.address(slug, token, domain)
        uid = booking_uid(row.unique_id, domain)
        zone = BusinessRules(row.business, row.time_zone, row.max_booking_days_ahead).zone
        when = dated_span_label(row.from_time, row.to_time, zone)
        cancelled = row.cancelled_at is not None
        method = "CANCEL" if cancelled else "REQUEST"
        span = (row.from_time, row.to_time)
        queued.append(
            await queue_mail(
                conn,
                to=row.email,
                from_address=organizer,
                subject=f"{'Cancelled' if cancelled else 'Booked'}: {row.resource}, {when}",
                text=(
                    f"{row.resource} is {'no longer ' if cancelled else ''}booked for you, "
                    f"{when}. This booking was {'cancelled' if cancelled else 'made'} outside "
                    "your calendar; this message keeps your calendar up to date.\n"
                ),
                calendar=_calendar(
                    method, uid, row.version, organizer, row.email, span, row.resource
                ),
                method=method,
            )
        )
        await conn.execute(
            _SENT,
            {
                "booking": row.id,
                "uid": uid,
                "version": row.version,
                "cancelled": cancelled,
                "now": now,
            },
        )
    return queued


async def record_reply(conn: AsyncConnection, member_id: int, uid: str, partstat: str) -> bool:
    """The member answered one of those REQUESTs: noted, the booking unchanged."""
    found = await conn.scalar(
        _REPLIED,
        {"partstat": partstat[:16], "now": clock.now(), "uid": uid, "member": member_id},
    )
    return found is not None
