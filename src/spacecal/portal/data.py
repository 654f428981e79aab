"""What the portal pages show, read for one member only: every query is scoped to the
signed-in coworker (their business's resources, their accounts, connections and
bookings), so no page can show another member's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.db.conditions import error_expr, health_expr
from spacecal.db.models import Booking, Business, Connection, Coworker, ProviderAccount, Resource
from spacecal.domain import OpeningHours
from spacecal.domain.opening_hours import MINUTES_PER_DAY, local_minute_to_utc


@dataclass(frozen=True)
class Member:
    id: int
    full_name: str
    email: str
    business_id: int
    business_name: str
    time_zone: str
    days_ahead: int
    session_generation: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class Account:
    provider: str
    email: str | None
    status: str
    status_reason: str | None
    writes_paused_until: datetime | None = None  # the provider's read-only pause
    server_url: str | None = None  # CalDAV: the server connected (never the password)


@dataclass(frozen=True)
class ConnectionView:
    id: int
    provider: str
    resource_id: int
    name: str
    health: str
    last_error: str | None
    last_sync_at: datetime | None
    subscription_expire_date: datetime | None
    push_supported: bool
    setup_after: datetime | None = None  # a set-up waiting for the account's limits
    poll_next_at: datetime | None = None  # a polled calendar's next check (CalDAV)


@dataclass(frozen=True)
class ResourceView:
    id: int
    name: str
    resource_type: str
    slot_step_minutes: int
    min_booking_minutes: int | None
    max_booking_minutes: int | None
    opening_hours: OpeningHours


@dataclass(frozen=True)
class BookingView:
    id: int
    resource_name: str
    start: datetime
    end: datetime
    tentative: bool


async def load_member(engine: AsyncEngine, coworker_id: int) -> Member | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    Coworker.id,
                    Coworker.full_name,
                    Coworker.email,
                    Coworker.business_id,
                    Business.name.label("business_name"),
                    Business.time_zone,
                    Business.max_booking_days_ahead,
                    Coworker.session_generation,
                )
                .join(Business, Business.id == Coworker.business_id)
                .where(Coworker.id == coworker_id)
            )
        ).first()
    if row is None:
        return None
    return Member(
        row.id,
        row.full_name,
        row.email,
        row.business_id,
        row.business_name,
        row.time_zone,
        row.max_booking_days_ahead,
        row.session_generation,
    )


async def load_accounts(engine: AsyncEngine, member: Member) -> dict[str, Account]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    ProviderAccount.provider,
                    ProviderAccount.email,
                    ProviderAccount.status,
                    ProviderAccount.status_reason,
                    ProviderAccount.writes_paused_until,
                    ProviderAccount.server_url,
                ).where(ProviderAccount.coworker_id == member.id)
            )
        ).all()
    return {r.provider: Account(*r) for r in rows}


async def load_connections(engine: AsyncEngine, member: Member) -> list[ConnectionView]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Connection.id,
                    Connection.provider,
                    Connection.resource_id,
                    Connection.name,
                    health_expr(),
                    error_expr(),
                    Connection.last_sync_at,
                    Connection.subscription_expire_date,
                    Connection.push_supported,
                    Connection.setup_after,
                    Connection.poll_next_at,
                )
                .where(Connection.coworker_id == member.id)
                .order_by(Connection.id)
            )
        ).all()
    return [ConnectionView(*tuple(r)) for r in rows]


async def load_resources(engine: AsyncEngine, member: Member) -> list[ResourceView]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Resource.id,
                    Resource.name,
                    Resource.resource_type,
                    Resource.slot_step_minutes,
                    Resource.min_booking_minutes,
                    Resource.max_booking_minutes,
                    Resource.opening_hours,
                )
                .where(
                    Resource.business_id == member.business_id,
                    Resource.visible.is_(True),
                    Resource.bookable.is_(True),
                )
                .order_by(Resource.name, Resource.id)
            )
        ).all()
    return [
        ResourceView(
            r.id,
            r.name,
            r.resource_type,
            r.slot_step_minutes,
            r.min_booking_minutes,
            r.max_booking_minutes,
            OpeningHours.from_json(r.opening_hours),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class BusyView:
    """A live booking of the chosen resource on the chosen day; whose it is stays
    hidden unless it is the member's own or the business shows names
    (`AvailabilityShowsNames`, as the calendars' blocks do)."""

    start: datetime
    end: datetime
    mine: bool
    name: str | None = None


async def busy_times(
    engine: AsyncEngine, member: Member, resource: ResourceView, day: date
) -> list[BusyView]:
    """The day's busy times of the resource (the member's local day), in time order."""
    zone = member.zone
    day_start = local_minute_to_utc(day, 0, zone)
    day_end = local_minute_to_utc(day, MINUTES_PER_DAY, zone)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Booking.from_time,
                    Booking.to_time,
                    Booking.coworker_id,
                    Business.availability_shows_names,
                    Coworker.full_name,
                )
                .join(Resource, Resource.id == Booking.resource_id)
                .join(Business, Business.id == Resource.business_id)
                .outerjoin(Coworker, Coworker.id == Booking.coworker_id)
                .where(
                    Booking.resource_id == resource.id,
                    Booking.cancelled_at.is_(None),
                    Booking.from_time < day_end,
                    Booking.to_time > day_start,
                )
                .order_by(Booking.from_time, Booking.id)
            )
        ).all()
    return [
        BusyView(
            r.from_time,
            r.to_time,
            r.coworker_id == member.id,
            r.full_name if r.availability_shows_names else None,
        )
        for r in rows
    ]


async def load_upcoming(engine: AsyncEngine, member: Member) -> list[BookingView]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Booking.id,
                    Resource.name,
                    Booking.from_time,
                    Booking.to_time,
                    Booking.tentative,
                )
                .join(Resource, Resource.id == Booking.resource_id)
                .where(
                    Booking.coworker_id == member.id,
                    Booking.cancelled_at.is_(None),
                    Booking.to_time > clock.now(),
                )
                .order_by(Booking.from_time)
                .limit(200)
            )
        ).all()
    return [BookingView(*r) for r in rows]


def slot_lengths(resource: ResourceView) -> list[int]:
    """Lengths a member may pick: multiples of the step within min/max (≤ 8 hours)."""
    step = resource.slot_step_minutes
    low = resource.min_booking_minutes or step
    high = min(resource.max_booking_minutes or 8 * 60, 8 * 60)
    lengths = [m for m in range(step, high + 1, step) if m >= low]
    return lengths or [max(low, step)]


async def free_slots(
    engine: AsyncEngine,
    member: Member,
    resource: ResourceView,
    day: date,
    minutes: int,
    *,
    taken_too: bool = False,
) -> list[tuple[datetime, datetime]]:
    """Slots of `minutes` on the resource's step, inside the day's opening hours, that
    start now or later and overlap no live booking (`taken_too`: overlapping ones as
    well). The booking write re-checks every rule (the same as the API's)."""
    zone = member.zone
    spans = list(resource.opening_hours.open_spans_utc(day, zone))
    if not spans:
        return []
    day_start, day_end = spans[0][0], spans[-1][1]
    async with engine.connect() as conn:
        taken = (
            await conn.execute(
                select(Booking.from_time, Booking.to_time).where(
                    Booking.resource_id == resource.id,
                    Booking.cancelled_at.is_(None),
                    Booking.from_time < day_end,
                    Booking.to_time > day_start,
                )
            )
        ).all()
    now = clock.now()
    step = timedelta(minutes=resource.slot_step_minutes)
    length = timedelta(minutes=minutes)
    slots: list[tuple[datetime, datetime]] = []
    for open_start, open_end in spans:
        start = open_start
        while start + length <= open_end:
            end = start + length
            free = all(not (t.from_time < end and t.to_time > start) for t in taken)
            if start >= now and (free or taken_too):
                slots.append((start, end))
            start += step
    return slots


async def offered(
    engine: AsyncEngine, member: Member, resource: ResourceView, start: datetime, end: datetime
) -> bool:
    """Whether the bookings page offers [start, end): a length from its list, a slot on
    the resource's step within opening hours, on a day it lets the member pick. A slot
    taken since the page was shown still counts (the write path says it is taken)."""
    minutes, rest = divmod((end - start).total_seconds(), 60)
    if rest or int(minutes) not in slot_lengths(resource):
        return False
    day = start.astimezone(member.zone).date()
    today = clock.now().astimezone(member.zone).date()
    if not today <= day <= today + timedelta(days=member.days_ahead):
        return False
    slots = await free_slots(engine, member, resource, day, int(minutes), taken_too=True)
    return (start, end) in slots
