"""Apply a plan's booking and link changes to a `SyncState`, purely: a test model.

This is what the sync engine's transaction (sync/reconcile/commit.py `commit_plan`)
does to its tables, written as a function so the promise "apply the plan, decide the
same events again, get an empty plan" can be tested without a database. Only the
domain tests use it, so it lives here rather than in spacecal.domain. Calendar
writes (marks, put-backs) change nothing here: their echoes are recognised by
the remembered refused times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from spacecal.domain.events import EventLink, LinkedBooking, RefusedTime, SyncState
from spacecal.domain.plan import Plan
from spacecal.domain.rules import BookedSpan


def apply_plan(state: SyncState, plan: Plan, *, new_booking_ids: Iterator[int]) -> SyncState:
    """The state after committing `plan`; new bookings take ids from `new_booking_ids`.

    Cancelling drops the event's link; a move bumps the booking's version and
    clears a remembered refusal; a creation links the event (version 1).
    """
    links: dict[str, EventLink] = dict(state.links)
    live: dict[int | None, list[BookedSpan]] = {}
    for span in state.live_bookings:
        live.setdefault(span.booking_id, []).append(span)

    for cancel in plan.cancel:
        links.pop(cancel.event_key, None)
        live.pop(cancel.booking_id, None)
    for move in plan.move:
        link = links[move.event_key]
        assert link.booking is not None
        booking = replace(
            link.booking,
            start=move.start,
            end=move.end,
            tentative=move.tentative,
            version=link.booking.version + 1,
        )
        links[move.event_key] = EventLink(move.event_key, booking, None)
        live[move.booking_id] = [BookedSpan(move.booking_id, move.start, move.end)]
    for create in plan.create:
        booking_id = next(new_booking_ids)
        booking = LinkedBooking(
            booking_id=booking_id,
            start=create.start,
            end=create.end,
            version=1,
            tentative=create.tentative,
            repeat_series_id=create.repeat_series_id,
        )
        links[create.event_key] = EventLink(create.event_key, booking, None)
        live[booking_id] = [BookedSpan(booking_id, create.start, create.end)]
    for mark in plan.mark_refused:
        old = links.get(mark.event_key)
        links[mark.event_key] = EventLink(
            mark.event_key,
            old.booking if old is not None else None,
            RefusedTime(mark.refused_time, mark.refusal.message),
        )
    for back in plan.put_back:
        old = links[back.event_key]
        links[back.event_key] = replace(
            old, refused=RefusedTime(back.refused_time, back.refusal.message)
        )
    for key in plan.forget:
        old_link = links.get(key)
        if old_link is None:
            continue
        if old_link.booking is None:
            del links[key]
        else:
            links[key] = replace(old_link, refused=None)
    return SyncState(
        links=links,
        live_bookings=tuple(span for spans in live.values() for span in spans),
    )
