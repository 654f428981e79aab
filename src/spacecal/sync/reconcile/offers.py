"""The alternatives a refused event's note offers (domain/alternatives.py), read in the
commit's transaction, after this pull's own bookings are written: what is offered is
free as of this decision.

Computed once, when the event is refused and marked (or a refused move put back). A
refused event is not decided again until the member changes it (domain/decide.py,
rule 5), so bookings made elsewhere later never rewrite its note: that would make
every booking rewrite refusal notes across calendars and fight their echoes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import bookings
from spacecal.domain import (
    OFFERED_FOR,
    MarkRefused,
    PutBack,
    mark_refused,
    messages,
    strip_mark,
    with_alternatives,
    with_note,
)
from spacecal.domain.alternatives import labels
from spacecal.sync.reconcile.target import SyncTarget


def _offered(refused: MarkRefused | PutBack) -> bool:
    return refused.refusal.code in OFFERED_FOR and not refused.refused_time.all_day


async def with_offers(
    conn: AsyncConnection,
    target: SyncTarget,
    marks: Sequence[MarkRefused],
    put_back: Sequence[PutBack],
    now: datetime,
) -> tuple[list[MarkRefused], list[PutBack]]:
    """`marks` and `put_back` with the alternatives added to the notes of those another
    time or room could help (one read for all of them)."""
    refused: list[MarkRefused | PutBack] = [*marks, *put_back]
    wanted = [r for r in refused if _offered(r)]
    if not wanted:
        return list(marks), list(put_back)
    found = await bookings.alternatives_for(
        conn,
        target.resource.resource_id,
        [
            (
                r.refused_time.start,
                r.refused_time.end,
                r.booking_id if isinstance(r, PutBack) else None,
            )
            for r in wanted
        ],
        now=now,
    )
    offers = {r.event_key: alts for r, alts in zip(wanted, found, strict=True)}
    zone = target.business.zone
    new_marks: list[MarkRefused] = []
    for mark in marks:
        alternatives = offers.get(mark.event_key)
        if alternatives:
            own = strip_mark(mark.text.title, mark.text.description)
            note = with_alternatives(mark.refusal.message, alternatives, zone)
            mark = replace(mark, text=mark_refused(own.title, own.description, note))
        new_marks.append(mark)
    new_backs: list[PutBack] = []
    for back in put_back:
        # The booking's own time is where the event goes back to, not an alternative.
        alternatives = tuple(
            a
            for a in offers.get(back.event_key, ())
            if not (a.here and (a.start, a.end) == (back.start, back.end))
        )
        if alternatives:
            own = strip_mark(back.text.title, back.text.description)
            booked = messages.dated_span_label(back.start, back.end, zone)
            note = messages.moved_back_note(back.refusal.reason, booked, labels(alternatives, zone))
            back = replace(back, text=with_note(own.title, own.description, note))
        new_backs.append(back)
    return new_marks, new_backs
