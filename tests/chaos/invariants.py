"""The invariants a converged run must satisfy, read the way a user would check them:
the members' calendars through the emulators' own state, the bookings from the
booking store. Each check returns human-readable violations (empty = holds).

1. Every event in a connected resource calendar is either exactly one live booking
   of that member and resource (same start and end) or visibly marked as refused.
2. Every live booking of a connected member has exactly one event in each of their
   connected calendars for that resource.
   (1 and 2 together: the unmarked events and the live bookings are the same
   multiset of spans; a duplicate event or a lost one breaks the equality.)
3. No two live bookings overlap on any resource.
4. No event id appears twice in a calendar.
5. Availability blocks (issue 19): every connected calendar holds exactly one block
   for each other live booking of its resource (anyone else's) that ends after now
   and starts within the business's AvailabilityDaysAhead, at the booking's span,
   titled "Booked", and no other block; blocks are told apart by their links.
6. Writes are bounded: spacecal's successful event writes during the run stay
   within a fixed multiple of the changes made (no ping-pong), and one more round
   of periodic work after convergence writes nothing at all.

Only the future counts (what ends after "now"): past events are not synced.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from tests.chaos.harness import LONGEST_WAIT, ChaosEnv
from tests.chaos.scenario import Calendar, Scenario

from spacecal import clock
from spacecal.db.models import Booking, Business, Connection, EventLink, table_of
from spacecal.domain.marks import TITLE_PREFIX

BOOKINGS = table_of(Booking)

#: Event writes allowed per change per connection. A change costs at most: a
#: booking's event in each other calendar (create/move/delete), a refusal mark or a
#: put-back, the cleanup of one earlier refusal, and a block in every other calendar
#: (or a block put back); resets and re-provisioning add re-writes. Ping-pong grows
#: without bound, far past this.
WRITES_PER_CHANGE = 5


Span = tuple[datetime, datetime]


def _fmt(span: Span) -> str:
    return f"{span[0]:%a %d %H:%M}-{span[1]:%H:%M}"


async def live_bookings(env: ChaosEnv) -> list[Any]:
    async with env.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(BOOKINGS)
                    .where(BOOKINGS.c.cancelled_at.is_(None))
                    .order_by(BOOKINGS.c.resource_id, BOOKINGS.c.from_time)
                )
            ).all()
        )


async def connected(env: ChaosEnv, cal: Calendar) -> bool:
    status = await env.account_status(cal.provider, cal.member.email)
    return status == "active"


async def block_keys(env: ChaosEnv, calendar_id: str) -> set[str]:
    async with env.engine.connect() as conn:
        return set(
            await conn.scalars(
                select(EventLink.event_key)
                .join(Connection, Connection.id == EventLink.connection_id)
                .where(Connection.calendar_id == calendar_id, EventLink.kind == "block")
            )
        )


async def check_blocks(
    env: ChaosEnv, cal: Calendar, coworker: int, bookings: list[Any], blocks: list[Any]
) -> list[str]:
    now = clock.now()
    async with env.engine.connect() as conn:
        days = await conn.scalar(
            select(Business.availability_days_ahead).where(Business.id == env.env.space.business_id)
        )
    horizon = now + timedelta(days=days or 0)
    wanted = Counter(
        (b.from_time, b.to_time)
        for b in bookings
        if b.coworker_id != coworker
        and b.resource_id == env.env.space.room_id
        and b.from_time < horizon
        and (days or 0) > 0
    )
    shown = Counter((e.start, e.end) for e in blocks)
    where = f"{cal.who}/{cal.provider}"
    problems = [f"{where}: block {_fmt(s)} shows no other live booking" for s in shown - wanted]
    problems += [f"{where}: other booking {_fmt(s)} has no block" for s in wanted - shown]
    problems += [f"{where}: block titled {e.title!r}" for e in blocks if e.title != "Booked"]
    return problems


async def check_calendars(env: ChaosEnv, scenario: Scenario) -> list[str]:
    now = clock.now()
    space = env.env.space
    bookings = [b for b in await live_bookings(env) if b.to_time > now]
    problems: list[str] = []
    for cal in scenario.calendars:
        if not await connected(env, cal):
            continue
        coworker = env.coworker(cal.who)
        where = f"{cal.who}/{cal.provider}"
        every = [e for e in cal.member.events() if e.end > now]
        ids = Counter(e.id for e in every)
        problems += [f"{where}: event {i} listed {n} times" for i, n in ids.items() if n > 1]
        keys = await block_keys(env, cal.member.calendar_id)
        blocks = [e for e in every if e.id in keys]
        problems += await check_blocks(env, cal, coworker, bookings, blocks)
        events = [e for e in every if e.id not in keys]
        shown = Counter((e.start, e.end) for e in events if not e.title.startswith(TITLE_PREFIX))
        booked = Counter(
            (b.from_time, b.to_time)
            for b in bookings
            if b.coworker_id == coworker and b.resource_id == space.room_id
        )
        for span in sorted((shown - booked).elements()):
            titles = [e.title for e in events if (e.start, e.end) == span]
            problems.append(
                f"{where}: unmarked event {_fmt(span)} {titles} is no live booking"
                " (or one too many)"
            )
        for span in sorted((booked - shown).elements()):
            problems.append(f"{where}: live booking {_fmt(span)} has no event here")
        # The booking record names its event in this calendar (GoogleEventId /
        # Office365EventId), as the API shows it.
        column = {
            "google": "google_event_id",
            "microsoft": "office365_event_id",
            "caldav": "caldav_event_id",
        }[cal.provider]
        at = {(e.start, e.end): e.id for e in events if not e.title.startswith(TITLE_PREFIX)}
        for b in bookings:
            if b.coworker_id != coworker or b.resource_id != space.room_id:
                continue
            event_id = at.get((b.from_time, b.to_time))
            if event_id is not None and getattr(b, column) != event_id:
                problems.append(
                    f"{where}: booking #{b.id} names event {getattr(b, column)!r},"
                    f" the calendar shows it as {event_id!r}"
                )
    return problems


async def check_overlaps(env: ChaosEnv) -> list[str]:
    problems = []
    previous: Any = None
    for booking in await live_bookings(env):
        if (
            previous is not None
            and previous.resource_id == booking.resource_id
            and booking.from_time < previous.to_time
        ):
            problems.append(
                f"bookings #{previous.id} and #{booking.id} overlap on resource"
                f" {booking.resource_id}"
            )
        previous = booking
    return problems


def check_write_bound(env: ChaosEnv, scenario: Scenario) -> list[str]:
    writes = env.event_writes() - scenario.writes_at_start
    changes = scenario.tally.changes + scenario.tally.resets + 1
    bound = WRITES_PER_CHANGE * changes * len(scenario.calendars)
    if writes > bound:
        return [f"{writes} event writes for {changes} changes (bound {bound}): ping-pong?"]
    return []


async def check_all(env: ChaosEnv, scenario: Scenario) -> list[str]:
    problems = await check_calendars(env, scenario)
    problems += await check_overlaps(env)
    problems += check_write_bound(env, scenario)
    problems += [f"still due after recovery: {what}" for what in await env.still_due()]
    # Converged means quiet: one more round of periodic work writes nothing.
    before = env.event_writes()
    await env.advance(LONGEST_WAIT)
    await env.periodic()
    extra = env.event_writes() - before
    if extra:
        problems.append(f"{extra} more event write(s) after convergence (ping-pong)")
    return problems


async def final_state(env: ChaosEnv, scenario: Scenario) -> str:
    """One line on what the run left: bookings, events, marks, accounts."""
    now = clock.now()
    live = [b for b in await live_bookings(env) if b.to_time > now]
    parts = [f"{len(live)} live booking(s)"]
    for cal in scenario.calendars:
        events = [e for e in cal.member.events() if e.end > now]
        marked = sum(e.title.startswith(TITLE_PREFIX) for e in events)
        state = "connected" if await connected(env, cal) else "not connected"
        parts.append(f"{cal.who}/{cal.provider} {len(events)} event(s), {marked} marked, {state}")
    if env.caldav is not None and env.caldav.proxy.hits:
        hits = ", ".join(f"{k} {v}" for k, v in sorted(env.caldav.proxy.hits.items()))
        parts.append(f"caldav faults that hit: {hits}")
    return "; ".join(parts)
