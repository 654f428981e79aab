"""Deciding an invitation (issue 21, item 3) and answering it (item 4).

The token in the address only routes mail to a member: every co-attendee sees it.
So a message acts only when (a) its ORGANIZER is a verified address of the member,
and so is its From (the address DMARC speaks for); (b) the address it reached is one
of its ATTENDEEs; (c) a change or cancel keeps the UID's original ORGANIZER with a
newer SEQUENCE (or the same SEQUENCE and a later DTSTAMP); (d) the From domain's
DMARC policy does not refuse it, and for the plain resource address DKIM passed for
the From domain. Otherwise nothing is booked and nothing is sent (no backscatter).

A decision is answered by an iTIP REPLY from the address the invitation reached, to
the (verified) organizer, and confirmed to the member's registered address; all of
it is queued in the deciding transaction and sent right after it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.domain import invitation_messages as words
from spacecal.domain.rules import BusinessRules, last_bookable_day_end
from spacecal.mail import addresses, outbox
from spacecal.mail.decide import (
    HEADER,
    Context,
    Decided,
    Reply,
    Row,
    apply_series,
    cancel_row,
    decide_instance,
    instance_key,
    load_rows,
)
from spacecal.mail.elsewhere import record_reply
from spacecal.mail.ical import Invitation, ItipEvent, Malformed, calendar_text, parse_invitation
from spacecal.mail.message import ReceivedMessage
from spacecal.mail.replies import queue_decided
from spacecal.mail.senders import verified_addresses
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

IGNORED_METHODS = frozenset({"COUNTER", "REFRESH", "PUBLISH", "ADD", "DECLINECOUNTER"})

_WHERE = text(
    "SELECT r.name AS resource, b.time_zone, b.max_booking_days_ahead, b.name AS business,"
    " b.id AS business_id FROM resources r JOIN businesses b ON b.id = r.business_id"
    " WHERE r.id = :resource"
)
_ENDED = text(
    "UPDATE invitations SET decided_until = NULL, status = 'cancelled'"
    " WHERE coworker_id = :member AND resource_id = :resource AND uid = :uid"
    " AND instance_key = ''"
)
_MEMBER_BY_ID = text("SELECT id, email FROM coworkers WHERE id = :id AND business_id = :business")
_MEMBER_BY_EMAIL = text(
    "SELECT id, email FROM coworkers WHERE lower(email) = :email AND business_id = :business"
    " ORDER BY id LIMIT 1"
)


@dataclass(frozen=True)
class Place:
    resource: str
    zone: ZoneInfo
    rules: BusinessRules
    business_id: int


async def _place(conn: AsyncConnection, resource_id: int) -> Place | None:
    row = (await conn.execute(_WHERE, {"resource": resource_id})).first()
    if row is None:
        return None
    rules = BusinessRules(row.business, row.time_zone, row.max_booking_days_ahead)
    return Place(row.resource, rules.zone, rules, row.business_id)


def _newer(event: ItipEvent, row: Row) -> bool:
    """(c): a newer SEQUENCE, or the same one with a later DTSTAMP."""
    if event.sequence != row.sequence:
        return event.sequence > row.sequence
    if event.dtstamp is None or row.dtstamp is None:
        return False
    return event.dtstamp > row.dtstamp


def _same_address(attendee: str, received: str, domain: str | None) -> bool:
    """The ATTENDEE is the address the message reached, whichever separator or case
    either was written with (some clients drop `+`)."""
    if attendee == received:
        return True
    if not domain:
        return False
    one, other = addresses.parse(attendee, domain), addresses.parse(received, domain)
    if one is None or other is None:
        return False
    if one.with_token is not None or other.with_token is not None:
        return one.with_token == other.with_token
    return one.plain == other.plain


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


_TOKENS = text(
    "SELECT r.mail_slug, a.token FROM resources r LEFT JOIN invitation_addresses a"
    " ON a.resource_id = r.id AND a.coworker_id = :member WHERE r.id = :resource"
)
_BOOKED_THROUGH = text(
    "SELECT DISTINCT address FROM invitations WHERE coworker_id = :member"
    " AND resource_id = :resource AND uid = :uid"
)


async def _room_addresses(
    conn: AsyncConnection, member_id: int, resource_id: int, uid: str, received: str, domain: str
) -> frozenset[str]:
    """Every address through which this member's room attends: the one reached, those
    the UID was booked through, the member's tokens (current or replaced), the plain one."""
    found = {received}
    params = {"member": member_id, "resource": resource_id, "uid": uid}
    found.update(str(a) for a in (await conn.scalars(_BOOKED_THROUGH, params)) if a)
    for slug, token in (await conn.execute(_TOKENS, params)).all():
        if slug:
            found.add(addresses.address(str(slug), None, domain))
            if token:
                found.add(addresses.address(str(slug), str(token), domain))
    return frozenset(found)


def _attends(event: ItipEvent, room: frozenset[str], domain: str) -> bool:
    return any(_same_address(a, r, domain) for a in event.attendees for r in room)


async def handle_invitation(
    runtime: SyncRuntime,
    message: ReceivedMessage,
    *,
    record: Callable[[AsyncConnection, str], Awaitable[None]] | None = None,
) -> str:
    """Decide one received message and send what the decision owes; the outcome label.

    One transaction holds the decision, its queued mail, that mail's lease and (with
    `record`) the message's outcome: a message is marked processed exactly when its
    decision commits, and the replies go out right after without another transaction
    to lease them (a burst of invitations is bounded by these round trips)."""
    queued: list[int] = []
    leased: list[Any] = []
    async with runtime.db.engine.begin() as conn:
        outcome = await _handle(runtime, conn, message, queued)
        if queued and runtime.settings.smtp_url:
            leased = await outbox.lease(conn, runtime.settings, queued)
        if record is not None:
            await record(conn, outcome)
    if leased:
        try:
            await outbox.send_leased(runtime, leased)
        except Exception:  # the periodic sender retries once the lease ends
            log.exception("sending the replies of message %d failed", message.id)
    return outcome


async def _handle(
    runtime: SyncRuntime, conn: AsyncConnection, message: ReceivedMessage, queued: list[int]
) -> str:
    recipient, auth = message.recipient, message.auth
    place = await _place(conn, recipient.resource_id)
    if place is None:
        return "ignored"
    portal = f"{runtime.settings.effective_public_url()}/portal"
    if recipient.coworker_id is not None:
        member = (
            await conn.execute(
                _MEMBER_BY_ID, {"id": recipient.coworker_id, "business": place.business_id}
            )
        ).first()
    else:
        member = (
            await conn.execute(
                _MEMBER_BY_EMAIL, {"email": auth.from_address, "business": place.business_id}
            )
        ).first()
    if member is None:
        return "refused-sender"
    verified = await verified_addresses(conn, member.id)
    sender_ok = auth.from_address in verified and not auth.refused_by_policy
    if recipient.coworker_id is None:
        sender_ok = sender_ok and _domain(auth.from_address) in auth.dkim_domains
    try:
        invitation = parse_invitation(message.raw, place.zone)
    except Malformed as exc:
        log.info("message %d is malformed: %s", message.id, exc)
        if sender_ok and not _has_calendar(message.raw):
            queued.append(
                await outbox.queue_mail(
                    conn,
                    to=member.email,
                    from_address=recipient.address,
                    subject=words.unreadable_subject(),
                    text=words.unreadable_text(place.resource, portal),
                )
            )
        return "malformed"
    if invitation.method in IGNORED_METHODS:
        return "ignored"
    if invitation.method == "REPLY":
        return await _member_reply(conn, invitation, member.id, recipient.address, sender_ok)
    if invitation.method not in ("REQUEST", "CANCEL") or not invitation.events:
        return "malformed"
    uids = {e.uid for e in invitation.events}
    organizers = {e.organizer for e in invitation.events}
    if len(uids) != 1 or len(organizers) != 1:
        return "malformed"
    uid, organizer = uids.pop(), organizers.pop()
    if not sender_ok or organizer not in verified:
        return "refused-sender"
    now = clock.now()
    ctx = Context(
        conn=conn,
        now=now,
        member_id=member.id,
        resource_id=recipient.resource_id,
        resource_name=place.resource,
        zone=place.zone,
        horizon_end=last_bookable_day_end(place.rules, now),
        address_id=recipient.address_id,
        address=recipient.address,
        message_id=message.id,
        by=member.email,
    )
    rows = await load_rows(ctx, uid)
    header = rows.get(HEADER)
    if header is not None and header.organizer != organizer:
        return "refused-sender"
    if not recipient.current and (header is None or header.address_id != recipient.address_id):
        return "refused-sender"  # a replaced token: only the UIDs it already booked
    latest = max(invitation.events, key=lambda e: (e.sequence, e.dtstamp or now))
    target = header
    if all(e.recurrence_id is not None for e in invitation.events) and header is not None:
        target = rows.get(instance_key(latest.recurrence_id or now), header)
    if target is not None and not _newer(latest, target):
        return "ignored"  # stale, or the same message again
    domain = runtime.settings.mail_domain or _domain(recipient.address)
    room = await _room_addresses(
        conn, member.id, recipient.resource_id, uid, recipient.address, domain
    )
    attended = [e for e in invitation.events if _attends(e, room, domain)]
    if invitation.method == "CANCEL" or not attended:
        # A CANCEL acts only on what it cancels for the room: one sent to a removed
        # attendee (same UID, signed) and resent here names only them.
        cancelled = attended if invitation.method == "CANCEL" else list(invitation.events)
        if not rows or not cancelled:
            return "ignored" if invitation.method == "CANCEL" else "refused-sender"
        decided = await _cancel(ctx, uid, cancelled, rows, organizer)
        outcome = "cancelled" if decided.lines else "ignored"
    else:
        decided = await _request(ctx, uid, invitation, rows, organizer, message.raw)
        outcome = _label(ctx, decided)
    queued.extend(
        await queue_decided(
            ctx,
            conn,
            uid=uid,
            organizer=organizer,
            member_email=member.email,
            decided=decided,
            portal=portal,
        )
    )
    return outcome


async def _member_reply(
    conn: AsyncConnection, invitation: Invitation, member_id: int, address: str, sender_ok: bool
) -> str:
    """The member answered a booking sent to them (mail/elsewhere.py): recorded only."""
    if not sender_ok or len(invitation.events) != 1:
        return "ignored"
    event = invitation.events[0]
    if event.organizer != address:
        return "ignored"
    partstat = next((p for a, p in event.partstats if a != address), "")
    if partstat and await record_reply(conn, member_id, event.uid, partstat):
        return "recorded"
    return "ignored"


def _has_calendar(raw: bytes) -> bool:
    try:
        calendar_text(raw)
    except Malformed:
        return False
    return True


def _label(ctx: Context, decided: Decided) -> str:
    if ctx.created:
        return "booked"
    outcomes = {line.outcome for line in decided.lines}
    if outcomes and outcomes <= {"declined"}:
        return "declined"
    if outcomes:
        return "updated"
    return "ignored"


async def _request(
    ctx: Context,
    uid: str,
    invitation: Invitation,
    rows: dict[str, Row],
    organizer: str,
    raw: bytes,
) -> Decided:
    masters = [e for e in invitation.events if e.recurrence_id is None]
    overrides = {instance_key(e.recurrence_id): e for e in invitation.events if e.recurrence_id}
    if masters and (masters[0].rrule is not None or masters[0].rdates):
        return await apply_series(
            ctx, uid, masters[0], overrides, rows, organizer, calendar_text(raw).decode()
        )
    decided = Decided()
    if masters:
        master = masters[0]
        for key, row in rows.items():  # it was a series: its instances go
            if key != HEADER and row.status != "cancelled":
                line = await cancel_row(ctx, uid, row, master, organizer)
                if line:
                    decided.lines.append(line)
        line = await decide_instance(
            ctx, uid, HEADER, rows.get(HEADER), master, organizer, (master.start, master.end), None
        )
        _record(decided, Reply(None, master.sequence, line, line.outcome != "declined"))
        return decided
    # Instance edits of a series spacecal holds.
    if HEADER not in rows:
        return decided
    for key, event in sorted(overrides.items()):
        if event.start >= ctx.horizon_end:
            continue
        line = await decide_instance(
            ctx, uid, key, rows.get(key), event, organizer, (event.start, event.end), uid
        )
        _record(
            decided, Reply(event.recurrence_id, event.sequence, line, line.outcome != "declined")
        )
    return decided


def _record(decided: Decided, reply: Reply) -> None:
    decided.replies.append(reply)
    if reply.line.outcome != "kept":
        decided.lines.append(reply.line)


async def _cancel(
    ctx: Context, uid: str, events: list[ItipEvent], rows: dict[str, Row], organizer: str
) -> Decided:
    decided = Decided()
    event = events[0]
    whole = any(e.recurrence_id is None for e in events)
    keys = (
        set(rows) if whole else {instance_key(e.recurrence_id) for e in events if e.recurrence_id}
    )
    for key in sorted(keys):
        row = rows.get(key)
        if row is None:
            continue
        line = await cancel_row(ctx, uid, row, event, organizer)
        if line:
            decided.lines.append(line)
    if whole:  # nothing more of it is decided as the horizon moves
        await ctx.conn.execute(
            _ENDED, {"member": ctx.member_id, "resource": ctx.resource_id, "uid": uid}
        )
    return decided
