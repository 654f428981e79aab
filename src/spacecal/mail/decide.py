"""Applying an accepted invitation to bookings, through the one booking write path.

An invitation (one UID) is rows of `invitations`: the header ('' instance key: the
original ORGANIZER, the SEQUENCE/DTSTAMP last applied, and for a single event its
booking) and one row per series instance (key: its original start in UTC). Each
instance is booked, moved or cancelled with `bookings.create/move/cancel`, under a
savepoint, so one refusal never undoes the others; a refusal is the domain's words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import bookings
from spacecal.domain.alternatives import with_alternatives
from spacecal.domain.invitation_messages import SERIES_TOO_OLD, Line, moved_refusal
from spacecal.domain.series import repeat_series_unique_id
from spacecal.mail.ical import ItipEvent, occurrences

HEADER = ""


def instance_key(original_start: datetime) -> str:
    return original_start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Row:
    id: int
    instance_key: str
    organizer: str
    sequence: int
    dtstamp: datetime | None
    address_id: int | None
    booking_id: int | None
    booking_live: bool
    start_time: datetime | None
    end_time: datetime | None
    status: str
    reason: str


@dataclass
class Context:
    conn: AsyncConnection
    now: datetime
    member_id: int
    resource_id: int
    resource_name: str
    zone: ZoneInfo
    horizon_end: datetime
    address_id: int | None
    address: str
    message_id: int
    by: str
    created: int = 0  # bookings made (the outcome label reads it)


@dataclass
class Reply:
    recurrence_id: datetime | None
    sequence: int
    line: Line
    accepted: bool
    series: bool = False


@dataclass
class Decided:
    lines: list[Line] = field(default_factory=list)  # changes, for the confirmation
    replies: list[Reply] = field(default_factory=list)


_ROWS = text(
    "SELECT i.id, i.instance_key, i.organizer, i.sequence, i.dtstamp, i.address_id,"
    " i.booking_id, (b.id IS NOT NULL AND b.cancelled_at IS NULL) AS booking_live,"
    " i.start_time, i.end_time, i.status, i.reason"
    " FROM invitations i LEFT JOIN bookings b ON b.id = i.booking_id"
    " WHERE i.coworker_id = :member AND i.resource_id = :resource AND i.uid = :uid"
    " ORDER BY i.instance_key FOR UPDATE OF i"
)
_UPSERT = text(
    "INSERT INTO invitations (coworker_id, resource_id, uid, instance_key, organizer, sequence,"
    " dtstamp, address_id, address, booking_id, start_time, end_time, status, reason,"
    " message_id, created_at, updated_at)"
    " VALUES (:member, :resource, :uid, :key, :organizer, :sequence, :dtstamp, :address_id,"
    " :address,"
    " :booking, :start, :end, :status, :reason, :message, :now, :now)"
    " ON CONFLICT (coworker_id, resource_id, uid, instance_key) DO UPDATE SET"
    " sequence = EXCLUDED.sequence, dtstamp = EXCLUDED.dtstamp,"
    " booking_id = EXCLUDED.booking_id, start_time = EXCLUDED.start_time,"
    " end_time = EXCLUDED.end_time, status = EXCLUDED.status, reason = EXCLUDED.reason,"
    " message_id = EXCLUDED.message_id, updated_at = EXCLUDED.updated_at"
)
_SERIES = text(
    "UPDATE invitations SET calendar = :calendar, decided_until = :until"
    " WHERE coworker_id = :member AND resource_id = :resource AND uid = :uid"
    " AND instance_key = ''"
)


async def load_rows(ctx: Context, uid: str) -> dict[str, Row]:
    result = await ctx.conn.execute(
        _ROWS, {"member": ctx.member_id, "resource": ctx.resource_id, "uid": uid}
    )
    return {r.instance_key: Row(**r._mapping) for r in result}


async def save(
    ctx: Context,
    uid: str,
    key: str,
    event: ItipEvent,
    organizer: str,
    *,
    booking_id: int | None,
    span: tuple[datetime, datetime] | None,
    status: str,
    reason: str = "",
) -> None:
    await ctx.conn.execute(
        _UPSERT,
        {
            "member": ctx.member_id,
            "resource": ctx.resource_id,
            "uid": uid,
            "key": key,
            "organizer": organizer,
            "sequence": event.sequence,
            "dtstamp": event.dtstamp,
            "address_id": ctx.address_id,
            "address": ctx.address,
            "booking": booking_id,
            "start": span[0] if span else None,
            "end": span[1] if span else None,
            "status": status,
            "reason": reason,
            "message": ctx.message_id,
            "now": ctx.now,
        },
    )


async def _create(
    ctx: Context, start: datetime, end: datetime, series: str | None
) -> tuple[int | None, str]:
    values = {
        "resource_id": ctx.resource_id,
        "coworker_id": ctx.member_id,
        "from_time": start,
        "to_time": end,
        "tentative": False,
        "source": "invitation",
        "repeat_series_unique_id": (
            repeat_series_unique_id(f"invitation:{ctx.member_id}:{ctx.resource_id}", series)
            if series is not None
            else None
        ),
    }
    try:
        async with ctx.conn.begin_nested():
            return await bookings.create(ctx.conn, dict(values), by=ctx.by, now=ctx.now), ""
    except bookings.BookingRefused as refused:
        return None, _offering(ctx, refused)
    except IntegrityError:
        # A booking committed since the check: the check now names it.
        try:
            await bookings.check(ctx.conn, dict(values), None, now=ctx.now)
        except bookings.BookingRefused as refused:
            return None, _offering(ctx, refused)
        raise


def _offering(ctx: Context, refused: bookings.BookingRefused) -> str:
    """The refusal with what is free instead (the same words as every other path)."""
    return with_alternatives(refused.message, refused.alternatives, ctx.zone)


def same_refusal(a: str, b: str) -> bool:
    """Two refusals give the same reason, whatever was free at each decision: a
    re-sent invitation does not get a new DECLINED only because the offers moved."""
    return a.split(". Free: ", 1)[0] == b.split(". Free: ", 1)[0]


async def _move(ctx: Context, booking_id: int, start: datetime, end: datetime) -> str:
    try:
        async with ctx.conn.begin_nested():
            await bookings.move(ctx.conn, booking_id, start, end, by=ctx.by, now=ctx.now)
        return ""
    except bookings.BookingRefused as refused:
        return moved_refusal(_offering(ctx, refused))
    except IntegrityError:
        return moved_refusal(f"Not booked: {ctx.resource_name} is taken at that time")


async def decide_instance(
    ctx: Context,
    uid: str,
    key: str,
    row: Row | None,
    event: ItipEvent,
    organizer: str,
    span: tuple[datetime, datetime],
    series: str | None,
) -> Line:
    """Book, move or keep one instance (or the single event); the Line says which."""
    start, end = span

    async def record(
        booking_id: int | None, at: tuple[datetime, datetime], status: str, reason: str = ""
    ) -> None:
        await save(
            ctx,
            uid,
            key,
            event,
            organizer,
            booking_id=booking_id,
            span=at,
            status=status,
            reason=reason,
        )

    if row is not None and row.booking_id is not None and row.booking_live:
        if (row.start_time, row.end_time) == span:
            await record(row.booking_id, span, "accepted")
            return Line(start, end, "kept")
        reason = await _move(ctx, row.booking_id, start, end)
        if reason:
            kept = (row.start_time or start, row.end_time or end)
            await record(row.booking_id, kept, "accepted", reason)
            return Line(start, end, "declined", reason)
        await record(row.booking_id, span, "accepted")
        return Line(start, end, "moved")
    if row is not None and row.booking_id is not None and (row.start_time, row.end_time) == span:
        # Cancelled elsewhere, and the invitation did not move it: it stays cancelled.
        await record(row.booking_id, span, "cancelled")
        return Line(start, end, "kept")
    booking_id, reason = await _create(ctx, start, end, series)
    if booking_id is None:
        await record(None, span, "declined", reason)
        return Line(start, end, "declined", reason)
    ctx.created += 1
    await record(booking_id, span, "accepted")
    return Line(start, end, "booked")


async def cancel_row(
    ctx: Context, uid: str, row: Row, event: ItipEvent, organizer: str
) -> Line | None:
    """Cancel one instance's (or the single event's) booking; None when nothing was live."""
    cancelled = False
    if row.booking_id is not None and row.booking_live:
        cancelled = await bookings.cancel(
            ctx.conn, row.booking_id, by=ctx.by, now=ctx.now, coworker_id=ctx.member_id
        )
    span = (row.start_time, row.end_time) if row.start_time and row.end_time else None
    await save(
        ctx,
        uid,
        row.instance_key,
        event,
        organizer,
        booking_id=row.booking_id,
        span=span,
        status="cancelled" if row.status != "pending" else "pending",
    )
    if not cancelled or span is None:
        return None
    return Line(span[0], span[1], "cancelled")


async def apply_series(
    ctx: Context,
    uid: str,
    master: ItipEvent,
    overrides: dict[str, ItipEvent],
    rows: dict[str, Row],
    organizer: str,
    calendar_text: str,
    *,
    only_new: bool = False,
) -> Decided:
    """A recurring event: decide every instance up to the horizon, cancel those gone.
    `only_new`: the horizon moved on; decide only instances not decided before."""
    decided = Decided()
    header = rows.get(HEADER)
    if (
        not only_new
        and header is not None
        and header.booking_id is not None
        and header.booking_live
    ):
        line = await cancel_row(ctx, uid, header, master, organizer)
        if line:
            decided.lines.append(line)
    await save(ctx, uid, HEADER, master, organizer, booking_id=None, span=None, status="pending")
    duration = master.end - master.start
    found = occurrences(master, ctx.horizon_end, since=ctx.now - duration)
    more = found.more
    wanted: dict[str, tuple[datetime, datetime]] = {}
    # A walk stopped before the horizon cannot say which instances lie ahead: none
    # is booked, those booked before are cancelled below, the series is declined.
    for start in found.starts if found.reached else []:
        key = instance_key(start)
        override = overrides.get(key)
        span = (override.start, override.end) if override else (start, start + duration)
        if span[1] > ctx.now:
            wanted[key] = span
    if only_new:
        wanted = {k: v for k, v in wanted.items() if k not in rows}
    for key, row in [] if only_new else rows.items():
        if key != HEADER and key not in wanted and row.status != "cancelled":
            if row.start_time is not None and row.start_time < ctx.now:
                continue  # the past stays as it was
            line = await cancel_row(ctx, uid, row, master, organizer)
            if line:
                decided.lines.append(line)
    first_reason = "" if found.reached else SERIES_TOO_OLD
    any_booked = False
    for key, span in sorted(wanted.items()):
        known = rows.get(key)
        line = await decide_instance(
            ctx, uid, key, known, overrides.get(key, master), organizer, span, uid
        )
        if line.outcome == "declined":
            first_reason = first_reason or line.reason
            already = (
                known is not None
                and known.status == "declined"
                and same_refusal(known.reason, line.reason)
            )
            if not already:
                original = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                decided.replies.append(Reply(original, master.sequence, line, accepted=False))
                decided.lines.append(line)
        else:
            any_booked = True
            if line.outcome != "kept":
                decided.lines.append(line)
    accepted = found.reached and (any_booked or more or not wanted)
    series_line = Line(
        master.start,
        master.end,
        "booked" if accepted else "declined",
        "" if accepted else first_reason,
    )
    if not only_new:
        decided.replies.insert(0, Reply(None, master.sequence, series_line, accepted, series=True))
        if not found.reached:
            decided.lines.append(series_line)  # the member's confirmation says why
    await ctx.conn.execute(
        _SERIES,
        {
            "calendar": calendar_text,
            "until": ctx.horizon_end if more else None,
            "member": ctx.member_id,
            "resource": ctx.resource_id,
            "uid": uid,
        },
    )
    return decided
