"""What one reconcile reads from spacecal's tables: the connection with its resource,
business and account (`SyncTarget`), and the state the domain decides against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.columns import cursor_of
from spacecal.db.models import Booking, Business, Connection, Coworker, EventLink, ProviderAccount
from spacecal.db.models import Resource as ResourceRow
from spacecal.db.rules import RULE_COLUMNS, rules_from_row
from spacecal.domain import (
    BookedSpan,
    BusinessRules,
    EventTime,
    LinkedBooking,
    RefusedTime,
    ResourceRules,
    SyncState,
)
from spacecal.domain import EventLink as DomainLink


def calendar_verified() -> ColumnElement[bool]:
    """Whether spacecal verified that it made the row's calendar for the row's
    account (migration 0014): any change of either makes the row unverified."""
    return func.coalesce(
        and_(
            Connection.calendar_id == Connection.verified_calendar_id,
            Connection.provider_account_id == Connection.verified_account_id,
        ),
        False,
    )


@dataclass(frozen=True)
class SyncTarget:
    connection_id: int
    provider: str
    business_id: int
    account_id: int | None
    account_status: str | None
    coworker_id: int | None
    calendar_id: str | None
    cursor: str | None
    resource: ResourceRules
    business: BusinessRules
    member_allowed: bool
    retry_at: datetime | None
    consecutive_failures: int
    # spacecal verified it made `calendar_id` for this account (reconcile/verify.py).
    calendar_verified: bool = False
    marker_pending: bool = False
    # Availability blocks (sync/reconcile/blocks.py): days ahead (0: off), names shown.
    availability_days: int = 0
    availability_names: bool = False

    @property
    def time_zone(self) -> str:
        return self.business.time_zone


def target_select(*extra: Any) -> Select[Any]:
    """The target's columns (and `extra` ones), joined; the caller adds the WHERE.
    The account is joined already, so its columns may be among `extra`."""
    columns: list[Any] = [
        Connection.id.label("connection_id"),
        Connection.provider,
        Connection.provider_account_id,
        Connection.coworker_id,
        Connection.calendar_id,
        Connection.event_sync_token,
        Connection.delta_link,
        Connection.retry_at,
        Connection.consecutive_failures,
        Connection.marker_pending,
        calendar_verified().label("calendar_verified"),
        ProviderAccount.status.label("account_status"),
        *RULE_COLUMNS,
        Coworker.business_id.label("member_business_id"),
        Business.availability_days_ahead,
        Business.availability_shows_names,
        *extra,
    ]
    return (
        select(*columns)
        .select_from(Connection)
        .join(ResourceRow, ResourceRow.id == Connection.resource_id)
        .join(Business, Business.id == ResourceRow.business_id)
        .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .outerjoin(Coworker, Coworker.id == Connection.coworker_id)
    )


async def load_target(conn: AsyncConnection, connection_id: int) -> SyncTarget | None:
    row = (await conn.execute(target_select().where(Connection.id == connection_id))).first()
    return None if row is None else target_of(row)


def target_of(row: Row[Any]) -> SyncTarget:
    """The target from a row of `target_select`."""
    resource, business = rules_from_row(row)
    return SyncTarget(
        connection_id=row.connection_id,
        provider=row.provider,
        business_id=row.business_id,
        account_id=row.provider_account_id,
        account_status=row.account_status,
        coworker_id=row.coworker_id,
        calendar_id=row.calendar_id,
        cursor=cursor_of(row),
        resource=resource,
        business=business,
        member_allowed=row.member_business_id == row.business_id,
        retry_at=row.retry_at,
        consecutive_failures=row.consecutive_failures,
        calendar_verified=bool(row.calendar_verified),
        marker_pending=row.marker_pending,
        availability_days=row.availability_days_ahead,
        availability_names=row.availability_shows_names,
    )


@dataclass(frozen=True)
class LinkRow:
    """An event link as stored, with the booking fields the engine needs."""

    event_key: str
    series_key: str | None
    booking_id: int | None
    written_etag: str | None
    booking_version: int | None
    refused_start: datetime | None
    refused_end: datetime | None
    refused_all_day: bool
    refused_reason: str | None
    pending_write: dict[str, Any] | None
    booking: LinkedBooking | None
    kind: str = "booking"  # or "block": another booking shown busy (blocks.py)


async def load_links(conn: AsyncConnection, connection_id: int) -> dict[str, LinkRow]:
    rows = (
        await conn.execute(
            select(
                EventLink.event_key,
                EventLink.series_key,
                EventLink.booking_id,
                EventLink.written_etag,
                EventLink.booking_version,
                EventLink.refused_start,
                EventLink.refused_end,
                EventLink.refused_all_day,
                EventLink.refused_reason,
                EventLink.pending_write,
                EventLink.kind,
                Booking.from_time,
                Booking.to_time,
                Booking.version,
                Booking.cancelled_at,
                Booking.tentative,
                Booking.repeat_series_unique_id,
            )
            .outerjoin(Booking, Booking.id == EventLink.booking_id)
            .where(EventLink.connection_id == connection_id)
        )
    ).all()
    links: dict[str, LinkRow] = {}
    for r in rows:
        booking = None
        if r.booking_id is not None and r.from_time is not None:
            booking = LinkedBooking(
                booking_id=r.booking_id,
                start=r.from_time,
                end=r.to_time,
                version=r.version,
                cancelled=r.cancelled_at is not None,
                tentative=r.tentative,
                repeat_series_id=(
                    str(r.repeat_series_unique_id) if r.repeat_series_unique_id else None
                ),
            )
        links[r.event_key] = LinkRow(
            event_key=r.event_key,
            series_key=r.series_key,
            booking_id=r.booking_id,
            written_etag=r.written_etag,
            booking_version=r.booking_version,
            refused_start=r.refused_start,
            refused_end=r.refused_end,
            refused_all_day=r.refused_all_day,
            refused_reason=r.refused_reason,
            pending_write=r.pending_write,
            booking=booking,
            kind=r.kind,
        )
    return links


def changed_since_refused(link: LinkRow) -> bool:
    """A refused new event pulled again in a version other than the mark spacecal
    wrote (echoes are dropped before this is asked), with no write of ours still
    owed: the member changed it since, so it is decided afresh (a text edit too, not
    only a move; a refusal "too far ahead" is lifted this way once the horizon has
    reached it)."""
    return (
        link.booking_id is None
        and link.refused_start is not None
        and link.pending_write is None
        and link.written_etag is not None
    )


def domain_links(
    links: dict[str, LinkRow], changed: frozenset[str] = frozenset()
) -> dict[str, DomainLink]:
    """The links as the domain sees them; a refusal of a key in `changed` that the
    member changed since (`changed_since_refused`) is left out."""
    result: dict[str, DomainLink] = {}
    for key, link in links.items():
        refused = None
        if key in changed and changed_since_refused(link):
            pass
        elif link.refused_start is not None and link.refused_end is not None:
            refused = RefusedTime(
                EventTime(link.refused_start, link.refused_end, link.refused_all_day),
                link.refused_reason or "",
            )
        result[key] = DomainLink(key, link.booking, refused)
    return result


async def live_bookings(conn: AsyncConnection, resource_id: int, now: datetime) -> list[BookedSpan]:
    """Every live booking on the resource that a pull's events could overlap."""
    rows = (
        await conn.execute(
            select(Booking.id, Booking.from_time, Booking.to_time).where(
                and_(
                    Booking.resource_id == resource_id,
                    Booking.cancelled_at.is_(None),
                    Booking.to_time > now - timedelta(days=2),
                )
            )
        )
    ).all()
    return [BookedSpan(r.id, r.from_time, r.to_time) for r in rows]


async def sync_state(
    conn: AsyncConnection,
    target: SyncTarget,
    links: dict[str, LinkRow],
    now: datetime,
    pulled: frozenset[str] = frozenset(),
) -> SyncState:
    """`pulled`: keys of the live events this pull returned (not echoes)."""
    return SyncState(
        links=domain_links(links, pulled),
        live_bookings=await live_bookings(conn, target.resource.resource_id, now),
    )
