"""Booking from the portal: pick a resource, a day and a free slot; see upcoming
bookings and cancel one. Writes go through the one booking write path
(spacecal.bookings), so the rules, the stamps and the calendars told are the same
wherever a booking is made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from spacecal import bookings, clock
from spacecal.domain import Alternative, messages
from spacecal.portal.data import (
    Member,
    busy_times,
    free_slots,
    load_resources,
    load_upcoming,
    offered,
    slot_lengths,
)
from spacecal.portal.pages import runtime
from spacecal.portal.views import current_member, local_time, member_post, redirect, render
from spacecal.records.fields import ParseError, parse_datetime
from spacecal.web.sessions import Session

router = APIRouter(prefix="/portal", include_in_schema=False)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


async def _page(
    request: Request,
    session: Session,
    member: Member,
    *,
    form_error: str | None = None,
    alternatives: Sequence[Alternative] = (),
    refused: tuple[int, datetime, datetime] | None = None,
    status: int = 200,
) -> Response:
    """`refused` (resource, start, end): the request just refused, so the page shows
    that resource, day and length again rather than today's."""
    rt = runtime(request)
    params: dict[str, str] = dict(request.query_params)
    if refused is not None:
        resource_id, start, end = refused
        params = {
            "resource": str(resource_id),
            "day": start.astimezone(member.zone).date().isoformat(),
            "length": str(int((end - start).total_seconds() // 60)),
        }
    resources = await load_resources(rt.db.engine, member)
    listed = {r.id for r in resources}
    # A refusal's alternatives, each one click to book (only resources this page lists).
    offers = [
        (
            a,
            messages.alternative_label(
                None if a.here else a.resource_name, a.start, a.end, member.zone
            ),
        )
        for a in alternatives
        if a.resource_id in listed
    ]
    chosen = next((r for r in resources if r.id == _int(params.get("resource"))), None)
    if chosen is None and resources:
        chosen = resources[0]
    today = clock.now().astimezone(member.zone).date()
    try:
        day = date.fromisoformat(params.get("day", "")) if params.get("day") else today
    except ValueError:
        day = today
    lengths = slot_lengths(chosen) if chosen else []
    length = _int(params.get("length"))
    if length not in lengths:
        length = 60 if 60 in lengths else (lengths[0] if lengths else None)
    slots = []
    busy = []
    day_problem = None
    if day < today:
        day_problem = "That day is in the past: pick today or a later day."
    elif day > today + timedelta(days=member.days_ahead):
        day_problem = f"Bookings can be made up to {member.days_ahead} days ahead."
    elif chosen is not None and length is not None:
        slots = await free_slots(rt.db.engine, member, chosen, day, length)
    if chosen is not None and day_problem is None:
        busy = await busy_times(rt.db.engine, member, chosen, day)
    return render(
        rt,
        request,
        "bookings.html",
        {
            "member": member,
            "space_name": member.business_name,
            "resources": resources,
            "chosen": chosen,
            "day": day,
            "today": today,
            "last_day": today + timedelta(days=member.days_ahead),
            "lengths": lengths,
            "length": length,
            "slots": slots,
            "busy": busy,
            "offers": offers,
            "offers_day": alternatives[0].start.astimezone(member.zone) if offers else None,
            "day_problem": day_problem,
            "upcoming": await load_upcoming(rt.db.engine, member),
            "form_error": form_error,
            "when": lambda v: local_time(v, member.zone),
            "hhmm": lambda v: local_time(v, member.zone, "%H:%M"),
            "active": "bookings",
        },
        session=session,
        status=status,
    )


@router.get("/bookings")
async def bookings_page(request: Request) -> Response:
    rt = runtime(request)
    found = await current_member(rt, request)
    if found is None:
        return redirect("/portal/signin")
    return await _page(request, *found)


@router.post("/bookings")
async def book(request: Request) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    session, member, form = posted.session, posted.member, posted.form
    resources = {r.id: r for r in await load_resources(rt.db.engine, member)}
    resource_id = _int(form.get("resource_id"))
    try:
        start: datetime = parse_datetime(form.get("start", ""))
        end: datetime = parse_datetime(form.get("end", ""))
    except ParseError:
        return await _page(
            request, session, member, form_error="Pick a time slot from the list.", status=400
        )
    if resource_id not in resources:
        return await _page(
            request, session, member, form_error="Pick a resource from the list.", status=400
        )
    # Only what the page offers: a crafted form booked a room for 77 days.
    if not await offered(rt.db.engine, member, resources[resource_id], start, end):
        refused = messages.NOT_BOOKED + messages.reason_not_offered(resources[resource_id].name)
        return await _page(request, session, member, form_error=refused, status=400)
    values = {
        "resource_id": resource_id,
        "coworker_id": member.id,
        "from_time": start,
        "to_time": end,
        "tentative": False,
        "source": "portal",
    }
    try:
        async with rt.db.engine.begin() as conn:
            await bookings.create(conn, values, by=member.email, now=clock.now())
    except bookings.BookingRefused as refused:
        # The domain's words, e.g. "Not booked: Room A is taken 10:00–11:00".
        return await _page(
            request,
            session,
            member,
            form_error=refused.message,
            alternatives=refused.alternatives,
            refused=(resource_id, start, end),
            status=409,
        )
    except IntegrityError:
        # Lost a race the check could not see: what is free now, read afresh.
        async with rt.db.engine.connect() as conn:
            [offered_now] = await bookings.alternatives_for(
                conn, resource_id, [(start, end, None)], now=clock.now()
            )
        return await _page(
            request,
            session,
            member,
            form_error="Someone booked this slot a moment ago. Pick another one.",
            alternatives=offered_now,
            refused=(resource_id, start, end),
            status=409,
        )
    return redirect("/portal/bookings", notice="booked")


@router.post("/bookings/{booking_id}/cancel")
async def cancel(request: Request, booking_id: int) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    session, member = posted.session, posted.member
    async with rt.db.engine.begin() as conn:
        # Only the member's own live booking: another member's id changes nothing.
        cancelled = await bookings.cancel(
            conn, booking_id, by=member.email, now=clock.now(), coworker_id=member.id
        )
    if not cancelled:
        return await _page(
            request,
            session,
            member,
            form_error="That booking is not one of your upcoming bookings.",
            status=404,
        )
    return redirect("/portal/bookings", notice="cancelled")
