"""Series instances beyond the booking horizon, decided as the horizon reaches them.

A series accepted by invitation keeps its last applied VEVENTs and how far its
instances were decided (`invitations.calendar`, `decided_until`). Hourly, each whose
business's horizon has moved past that is decided again for its new instances only
(the ones decided before stay as they are): booked, or refused with their own REPLY
(RECURRENCE-ID, PARTSTAT=DECLINED), and confirmed to the member, like any decision.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from spacecal import clock, jobs
from spacecal.domain.rules import BusinessRules, last_bookable_day_end
from spacecal.jobs import names
from spacecal.mail import outbox
from spacecal.mail.decide import Context, apply_series, instance_key, load_rows
from spacecal.mail.ical import Malformed, parse_calendar
from spacecal.mail.replies import queue_decided
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger(__name__)

_CANDIDATES = text(
    "SELECT i.id FROM invitations i JOIN resources r ON r.id = i.resource_id"
    " JOIN businesses b ON b.id = r.business_id"
    " WHERE i.instance_key = '' AND i.decided_until IS NOT NULL"
    " AND i.decided_until < CAST(:now AS timestamptz)"
    " + make_interval(days => b.max_booking_days_ahead + 1)"
    " ORDER BY i.decided_until LIMIT :limit"
)
_ONE = text(
    "SELECT i.coworker_id, i.resource_id, i.uid, i.organizer, i.address, i.address_id,"
    " i.calendar, i.decided_until, c.email, r.name AS resource, b.name AS business,"
    " b.time_zone, b.max_booking_days_ahead"
    " FROM invitations i JOIN coworkers c ON c.id = i.coworker_id"
    " JOIN resources r ON r.id = i.resource_id JOIN businesses b ON b.id = r.business_id"
    " WHERE i.id = :id AND i.decided_until IS NOT NULL FOR UPDATE OF i SKIP LOCKED"
)
_STOP = text("UPDATE invitations SET decided_until = NULL WHERE id = :id")
BATCH = 200


async def decide_horizon(rt: SyncRuntime) -> int:
    """Decide the new instances of every series the horizon moved past; returns how
    many series were looked at."""
    now = clock.now()
    async with rt.db.engine.connect() as conn:
        ids = list((await conn.scalars(_CANDIDATES, {"now": now, "limit": BATCH})).all())
    queued: list[int] = []
    portal = f"{rt.settings.effective_public_url()}/portal"
    for header_id in ids:
        async with rt.db.engine.begin() as conn:
            row = (await conn.execute(_ONE, {"id": header_id})).first()
            if row is None:
                continue
            rules = BusinessRules(row.business, row.time_zone, row.max_booking_days_ahead)
            horizon_end = last_bookable_day_end(rules, now)
            if row.decided_until >= horizon_end:
                continue
            try:
                invitation = parse_calendar(row.calendar.encode(), rules.zone)
            except Malformed:
                await conn.execute(_STOP, {"id": header_id})  # stored by us; never expected
                continue
            masters = [e for e in invitation.events if e.recurrence_id is None]
            if not masters:
                await conn.execute(_STOP, {"id": header_id})
                continue
            overrides = {
                instance_key(e.recurrence_id): e for e in invitation.events if e.recurrence_id
            }
            ctx = Context(
                conn=conn,
                now=now,
                member_id=row.coworker_id,
                resource_id=row.resource_id,
                resource_name=row.resource,
                zone=rules.zone,
                horizon_end=horizon_end,
                address_id=row.address_id,
                address=row.address,
                message_id=0,
                by=row.email,
            )
            rows = await load_rows(ctx, row.uid)
            decided = await apply_series(
                ctx,
                row.uid,
                masters[0],
                overrides,
                rows,
                row.organizer,
                row.calendar,
                only_new=True,
            )
            queued.extend(
                await queue_decided(
                    ctx,
                    conn,
                    uid=row.uid,
                    organizer=row.organizer,
                    member_email=row.email,
                    decided=decided,
                    portal=portal,
                )
            )
    if queued:
        await outbox.send_due(rt, queued)
    return len(ids)


@jobs.periodic_task(names.MAIL_HORIZON, periodic_id="mail-horizon", schedule=lambda _: "41 * * * *")
async def horizon_task(rt: SyncRuntime) -> None:
    """Hourly: series instances the horizon reached are decided."""
    while await decide_horizon(rt) >= BATCH:
        pass
