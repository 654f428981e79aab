"""A member's CalDAV account: storing what `connect_account` checked, and the calendar
a member picks where the server refuses to create one.

The credentials (server, username, app password, the URLs discovery found) are one
secret string, encrypted in the column that holds OAuth refresh tokens; the adapter's
`refresh` hands it back as the access token, so token care (sync/tokens.py) works
unchanged. The account's server and username are kept beside it in clear (shown on
the record; never the password), and its reconcile jobs take a lock bucket of the
server's host (jobs/reconcile.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update

from spacecal import clock
from spacecal.db.conditions import Health
from spacecal.db.models import Connection, ProviderAccount
from spacecal.jobs.reconcile import host_bucket_lock
from spacecal.providers.base import AccountIdentity, ProviderError, RemoteCalendar, TokenSet
from spacecal.providers.caldav import CalDavCredentials
from spacecal.sync.accounts import consent
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.accounts.setup_rows import ProvisioningFailed, connection_row

PROVIDER = "caldav"
# A CalDAV secret does not expire; a changed password answers 401 (needs reconnect).
NEVER = datetime(9999, 1, 1, tzinfo=UTC)


async def save_caldav_account(
    prov: Provisioner,
    coworker_id: int,
    credentials: CalDavCredentials,
    identity: AccountIdentity,
) -> int:
    """Store a checked CalDAV account (one per member; a reconnect replaces the
    secret) and reattach the calendars made before. Returns the account's id."""
    secret = credentials.to_secret()
    tokens = TokenSet(access_token=secret, expires_at=NEVER, refresh_token=secret)
    account_id = await consent.save_account(prov, coworker_id, PROVIDER, tokens, identity)
    host = urlsplit(credentials.server_url).hostname or "unknown"
    async with prov.engine.begin() as conn:
        await conn.execute(
            update(ProviderAccount)
            .where(ProviderAccount.id == account_id)
            .values(
                server_url=credentials.server_url,
                username=credentials.username,
                job_lock=host_bucket_lock(host, account_id, prov.settings.caldav_host_locks),
            )
        )
        await conn.execute(
            update(Connection)
            .where(Connection.provider_account_id == account_id)
            .values(server_url=credentials.server_url, username=credentials.username)
        )
    await consent.reattach(prov, account_id)
    return account_id


async def account_id_of(prov: Provisioner, coworker_id: int) -> int | None:
    """The member's active CalDAV account."""
    async with prov.engine.connect() as conn:
        found = await conn.scalar(
            select(ProviderAccount.id).where(
                ProviderAccount.coworker_id == coworker_id,
                ProviderAccount.provider == PROVIDER,
                ProviderAccount.status == "active",
            )
        )
    return int(found) if found is not None else None


async def member_calendars(prov: Provisioner, account_id: int) -> list[RemoteCalendar]:
    """The calendars of the member's CalDAV account, as the server lists them."""
    provider = prov.provider_for(PROVIDER)
    try:
        return await prov.tokens(PROVIDER, account_id).call(provider.list_calendars)
    except ProviderError as exc:
        raise ProvisioningFailed(
            "Your calendar server did not list your calendars. Try again in a moment."
        ) from exc


async def pick_calendar(
    prov: Provisioner, coworker_id: int, resource_id: int, calendar_id: str
) -> int:
    """Use the calendar the member picked (by its URL, never by its name) for a
    resource, on a server that refuses to create calendars; then finish the set-up.

    The URL must be one the server lists for this account right now, and not one
    another resource of the member already uses (one calendar would book both)."""
    account_id = await account_id_of(prov, coworker_id)
    if account_id is None:
        raise ProvisioningFailed("Connect your calendar account first.")
    listed = {c.id for c in await member_calendars(prov, account_id)}
    if calendar_id not in listed:
        raise ProvisioningFailed(
            "That calendar is not one of your account's calendars any more. "
            "Reload the page and pick again."
        )
    async with prov.engine.connect() as conn:
        taken = await conn.scalar(
            select(Connection.id).where(
                Connection.provider_account_id == account_id,
                Connection.calendar_id == calendar_id,
                Connection.resource_id != resource_id,
            )
        )
    if taken is not None:
        raise ProvisioningFailed(
            "That calendar already books another resource. Pick a different calendar "
            "for each resource."
        )
    connection_id = await connection_row(prov.engine, coworker_id, PROVIDER, resource_id)
    async with prov.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(
                calendar_id=calendar_id,
                # The member chose it explicitly for this account: verified as theirs.
                verified_calendar_id=calendar_id,
                verified_account_id=account_id,
                event_sync_token=None,
                health=Health.PROVISIONING,
                last_error=None,
                updated_on=clock.now(),
            )
        )
    await prov.resume(connection_id)
    return connection_id
