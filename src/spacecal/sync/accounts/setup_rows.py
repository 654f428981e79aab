"""The connection row provisioning works on: made once per (member, resource,
provider), and read back with what the set-up steps need (sync/accounts/provisioning.py).

The row is unique on that triple (migration 0011): an insert that loses a race to
another process inserts nothing and reads the winner's row instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.db.columns import cursor_of
from spacecal.db.conditions import Health
from spacecal.db.models import CONNECTION_KEY, Business, Connection, ProviderAccount, Resource
from spacecal.providers.registry import capabilities
from spacecal.sync.naming import calendar_name


class ProvisioningFailed(Exception):
    """Provisioning stopped at a step; `str()` is a sentence for the member."""


class ProvisioningWaiting(ProvisioningFailed):
    """Provisioning waits for the account's limits (sync/limits.py) and resumes by
    itself from `until` (sync/accounts/waiting.py); nothing failed."""

    def __init__(self, message: str, until: datetime, *, paused: bool) -> None:
        super().__init__(message)
        self.until = until
        self.paused = paused


@dataclass(frozen=True)
class SetUp:
    """One connection row with what provisioning needs to know around it. `name` is
    the record's Name (an API user may edit it); `calendar_name` is the one spacecal
    gives the calendar, the only name provisioning trusts."""

    id: int
    provider: str
    name: str
    resource_id: int
    resource_name: str
    business_name: str
    coworker_id: int
    account_id: int
    calendar_id: str | None
    cursor: str | None
    push_supported: bool
    time_zone: str
    days_ahead: int

    @property
    def calendar_name(self) -> str:
        return calendar_name(self.resource_name, self.business_name)


async def connection_row(
    engine: AsyncEngine, coworker_id: int, provider: str, resource_id: int
) -> int:
    """The connection of (member, resource, provider): found, or made `provisioning`.
    ProvisioningFailed when the member's account is not connected or the resource is
    gone."""
    now = clock.now()
    async with engine.begin() as conn:
        account = (
            await conn.execute(
                select(
                    ProviderAccount.id,
                    ProviderAccount.status,
                    ProviderAccount.server_url,
                    ProviderAccount.username,
                ).where(
                    ProviderAccount.coworker_id == coworker_id,
                    ProviderAccount.provider == provider,
                )
            )
        ).first()
        if account is None or account.status != "active":
            raise ProvisioningFailed(
                "Connect your calendar account first."
                if account is None or account.status == "disconnected"
                else "Your calendar account needs to be connected again."
            )
        existing = await conn.scalar(
            select(Connection.id).where(
                Connection.coworker_id == coworker_id,
                Connection.provider == provider,
                Connection.resource_id == resource_id,
            )
        )
        if existing is not None:
            return int(existing)
        names = (
            await conn.execute(
                select(Resource.name, Business.name.label("business"))
                .join(Business, Business.id == Resource.business_id)
                .where(Resource.id == resource_id)
            )
        ).first()
        if names is None:
            raise ProvisioningFailed("This resource does not exist any more.")
        # The triple is unique: a concurrent insert that won leaves nothing here,
        # and its row is read below.
        new_id = await conn.scalar(
            insert(Connection)
            .values(
                provider=provider,
                resource_id=resource_id,
                coworker_id=coworker_id,
                name=calendar_name(names.name, names.business),
                provider_account_id=account.id,
                # A provider without push is polled from the start: nothing to watch.
                push_supported=capabilities(provider).push,
                server_url=account.server_url,
                username=account.username,
                health=Health.PROVISIONING,
                unique_id=uuid.uuid4(),
                created_on=now,
                updated_on=now,
                updated_by="portal",
            )
            .on_conflict_do_nothing(index_elements=CONNECTION_KEY)
            .returning(Connection.id)
        )
        if new_id is None:
            new_id = await conn.scalar(
                select(Connection.id).where(
                    Connection.coworker_id == coworker_id,
                    Connection.provider == provider,
                    Connection.resource_id == resource_id,
                )
            )
        assert new_id is not None
        return int(new_id)


async def load_setup(engine: AsyncEngine, connection_id: int) -> SetUp:
    """The connection row with what provisioning needs around it."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    Connection.id,
                    Connection.provider,
                    Connection.name,
                    Connection.resource_id,
                    Connection.coworker_id,
                    Connection.provider_account_id,
                    Connection.calendar_id,
                    Connection.event_sync_token,
                    Connection.delta_link,
                    Connection.push_supported,
                    Resource.name.label("resource_name"),
                    Business.name.label("business_name"),
                    Business.time_zone,
                    Business.max_booking_days_ahead,
                )
                .join(Resource, Resource.id == Connection.resource_id)
                .join(Business, Business.id == Resource.business_id)
                .where(Connection.id == connection_id)
            )
        ).first()
    if row is None or row.provider_account_id is None or row.coworker_id is None:
        raise ProvisioningFailed("This calendar connection is not linked to an account.")
    return SetUp(
        id=row.id,
        provider=row.provider,
        name=row.name,
        resource_id=row.resource_id,
        resource_name=row.resource_name,
        business_name=row.business_name,
        coworker_id=row.coworker_id,
        account_id=row.provider_account_id,
        calendar_id=row.calendar_id,
        cursor=cursor_of(row),
        push_supported=row.push_supported,
        time_zone=row.time_zone,
        days_ahead=row.max_booking_days_ahead,
    )
