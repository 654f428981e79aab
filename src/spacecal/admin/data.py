"""What the console's connection pages read: the filtered, paged list with each
row's health, the per business and provider summary, and one connection with its
subscriptions and sync history. Reads only; never a secret column (channel tokens,
clientStates, provider tokens, sync cursors are not selected)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal.admin.health import (
    EXPIRING,
    FAILING,
    HEALTHY,
    NEEDS_RECONNECT,
    SYNCING,
    active_reconciles,
    reconcile_lock_of_connection,
    reconcile_queued,
    reconcile_running,
    state_expr,
)
from spacecal.db.conditions import error_at_expr, error_expr, health_expr
from spacecal.db.models import (
    Business,
    Connection,
    Coworker,
    ProviderAccount,
    Resource,
    SubscriptionGeneration,
    SyncRun,
)


@dataclass(frozen=True)
class Filters:
    providers: tuple[str, ...]  # the providers the user may see (and picked)
    business_id: int | None = None
    state: str | None = None
    search: str = ""


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    page: int
    pages: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _listing(now: datetime, soon: timedelta) -> Any:
    """Every connection with what the list shows, as a subquery to filter on."""
    active = active_reconciles()
    busy = active.c.queueing_lock.is_not(None)
    return (
        select(
            Connection.id,
            Connection.provider,
            Connection.name,
            error_expr().label("last_error"),
            error_at_expr().label("last_error_at"),
            Connection.last_notification_at,
            Connection.last_sync_at,
            Connection.subscription_expire_date,
            Connection.calendar_id,
            # A polled calendar's schedule (CalDAV: sync/polling.py).
            Connection.last_poll_at,
            Connection.poll_next_at,
            Connection.server_url,
            Business.id.label("business_id"),
            Business.name.label("business_name"),
            Resource.name.label("resource_name"),
            Coworker.full_name.label("member_name"),
            Coworker.email.label("member_email"),
            ProviderAccount.email.label("account_email"),
            state_expr(now, soon, busy).label("state"),
        )
        .join(Resource, Resource.id == Connection.resource_id)
        .join(Business, Business.id == Resource.business_id)
        .outerjoin(Coworker, Coworker.id == Connection.coworker_id)
        .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .outerjoin(active, active.c.queueing_lock == reconcile_lock_of_connection())
        .subquery("listing")
    )


def _urgency(state: Any) -> Any:
    """Most urgent first: what needs a person before what will sort itself out."""
    order = (NEEDS_RECONNECT, FAILING, EXPIRING, SYNCING, HEALTHY)
    return case(*((state == s, i) for i, s in enumerate(order)), else_=len(order))


def _where(listing: Any, filters: Filters) -> list[Any]:
    conditions: list[Any] = [listing.c.provider.in_(list(filters.providers))]
    if filters.business_id is not None:
        conditions.append(listing.c.business_id == filters.business_id)
    if filters.state:
        conditions.append(listing.c.state == filters.state)
    text = filters.search.strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        columns = (
            listing.c.name,
            listing.c.member_name,
            listing.c.member_email,
            listing.c.resource_name,
            listing.c.business_name,
            listing.c.account_email,
            listing.c.calendar_id,
            listing.c.server_url,
        )
        matches = [c.ilike(pattern, escape="\\") for c in columns]
        if text.isdigit() and len(text) <= 18:
            matches.append(listing.c.id == int(text))
        conditions.append(or_(*matches))
    return conditions


async def list_connections(
    engine: AsyncEngine,
    filters: Filters,
    *,
    now: datetime,
    soon: timedelta,
    page: int,
    size: int,
) -> Page:
    listing = _listing(now, soon)
    conditions = _where(listing, filters)
    async with engine.connect() as conn:
        total = int(
            await conn.scalar(select(func.count()).select_from(listing).where(*conditions)) or 0
        )
        pages = max(1, -(-total // size))
        page = min(max(1, page), pages)
        # Sort narrow rows (the sort keys) to find the page, then read its rows: a wide
        # sort of every connection spills to disk at 100,000 connections.
        ids = list(
            await conn.scalars(
                select(listing.c.id)
                .where(*conditions)
                .order_by(
                    _urgency(listing.c.state),
                    listing.c.business_name,
                    listing.c.provider,
                    listing.c.name,
                    listing.c.id,
                )
                .limit(size)
                .offset((page - 1) * size)
            )
        )
        found = {
            r.id: r for r in (await conn.execute(select(listing).where(listing.c.id.in_(ids))))
        }
    rows = [found[i] for i in ids if i in found]
    return Page(list(rows), total, page, pages)


async def summary(
    engine: AsyncEngine, providers: tuple[str, ...], *, now: datetime, soon: timedelta
) -> dict[tuple[int, str, str], dict[str, int]]:
    """Counts by health for each (business id, business name, provider)."""
    listing = _listing(now, soon)
    query = (
        select(
            listing.c.business_id,
            listing.c.business_name,
            listing.c.provider,
            listing.c.state,
            func.count(),
        )
        .where(listing.c.provider.in_(list(providers)))
        .group_by(
            listing.c.business_id, listing.c.business_name, listing.c.provider, listing.c.state
        )
        .order_by(listing.c.business_name, listing.c.provider)
    )
    found: dict[tuple[int, str, str], dict[str, int]] = {}
    async with engine.connect() as conn:
        for business_id, business_name, provider, state, count in (await conn.execute(query)).all():
            found.setdefault((business_id, business_name, provider), {})[state] = int(count)
    return found


async def businesses(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(Business.id, Business.name).order_by(Business.name))
        ).all()
    return [(r.id, r.name) for r in rows]


async def connection_provider(engine: AsyncEngine, connection_id: int) -> str | None:
    async with engine.connect() as conn:
        provider = await conn.scalar(
            select(Connection.provider).where(Connection.id == connection_id)
        )
    return str(provider) if provider is not None else None


@dataclass(frozen=True)
class Detail:
    row: Any
    generations: list[Any]
    runs: list[Any]


async def connection_detail(
    engine: AsyncEngine, connection_id: int, *, now: datetime, soon: timedelta, history: int
) -> Detail | None:
    query = (
        select(
            Connection.id,
            Connection.provider,
            Connection.name,
            Connection.calendar_id,
            Connection.subscription_id,
            Connection.subscription_expire_date,
            health_expr().label("stored_health"),
            error_expr().label("last_error"),
            error_at_expr().label("last_error_at"),
            Connection.last_notification_at,
            Connection.last_sync_at,
            Connection.push_supported,
            Connection.server_url,
            Connection.username,
            Connection.last_poll_at,
            Connection.poll_next_at,
            Connection.poll_interval_seconds,
            Connection.consecutive_failures,
            Connection.retry_at,
            Connection.renew_requested,
            Connection.resync_requested,
            Connection.rename_pending,
            Connection.renewal_failures,
            Connection.renewal_retry_at,
            Connection.sync_window_start,
            Connection.sync_window_end,
            Connection.sync_requested_at,
            Connection.notifications_pending,
            Connection.created_on,
            Connection.updated_on,
            (Connection.event_sync_token.is_not(None) | Connection.delta_link.is_not(None)).label(
                "has_cursor"
            ),
            Business.id.label("business_id"),
            Business.name.label("business_name"),
            Resource.id.label("resource_id"),
            Resource.name.label("resource_name"),
            Coworker.id.label("member_id"),
            Coworker.full_name.label("member_name"),
            Coworker.email.label("member_email"),
            ProviderAccount.email.label("account_email"),
            ProviderAccount.status.label("account_status"),
            ProviderAccount.status_reason.label("account_reason"),
            state_expr(now, soon).label("state"),
            reconcile_queued().label("queued"),
            reconcile_running().label("running"),
        )
        .join(Resource, Resource.id == Connection.resource_id)
        .join(Business, Business.id == Resource.business_id)
        .outerjoin(Coworker, Coworker.id == Connection.coworker_id)
        .outerjoin(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
        .where(Connection.id == connection_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        generations = (
            await conn.execute(
                select(
                    SubscriptionGeneration.id,
                    SubscriptionGeneration.subscription_id,
                    SubscriptionGeneration.status,
                    SubscriptionGeneration.created_at,
                    SubscriptionGeneration.expires_at,
                )
                .where(SubscriptionGeneration.connection_id == connection_id)
                .order_by(SubscriptionGeneration.id.desc())
                .limit(10)
            )
        ).all()
        runs = (
            await conn.execute(
                select(
                    SyncRun.id,
                    SyncRun.started_at,
                    SyncRun.finished_at,
                    SyncRun.outcome,
                    SyncRun.full_sync,
                    SyncRun.changes_pulled,
                    SyncRun.writes,
                    SyncRun.error,
                )
                .where(SyncRun.connection_id == connection_id)
                .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
                .limit(history)
            )
        ).all()
    return Detail(row, list(generations), list(runs))
