"""The alternatives a refused event's note offers (domain/alternatives.py), read in the
commit's transaction, after this pull's own bookings are written: what is offered is
free as of this decision.

Computed once, when the event is refused and marked. A refused event is not decided
again until the member changes it (domain/decide.py, rule 5), so bookings made
elsewhere later never rewrite its note: that would make every booking rewrite
refusal notes across calendars and fight their echoes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import bookings
from spacecal.domain import OFFERED_FOR, MarkRefused, mark_refused, strip_mark, with_alternatives
from spacecal.sync.reconcile.target import SyncTarget


async def with_offers(
    conn: AsyncConnection, target: SyncTarget, marks: Sequence[MarkRefused], now: datetime
) -> list[MarkRefused]:
    """`marks` with the alternatives added to the notes of those another time or room
    could help (one read for all of them)."""
    wanted = [m for m in marks if m.refusal.code in OFFERED_FOR and not m.refused_time.all_day]
    if not wanted:
        return list(marks)
    found = await bookings.alternatives_for(
        conn,
        target.resource.resource_id,
        [(m.refused_time.start, m.refused_time.end) for m in wanted],
        now=now,
    )
    offers = {m.event_key: alts for m, alts in zip(wanted, found, strict=True) if alts}
    result: list[MarkRefused] = []
    for mark in marks:
        alternatives = offers.get(mark.event_key)
        if alternatives:
            own = strip_mark(mark.text.title, mark.text.description)
            note = with_alternatives(mark.refusal.message, alternatives, target.business.zone)
            mark = replace(mark, text=mark_refused(own.title, own.description, note))
        result.append(mark)
    return result
