"""The connection records, CoworkerGoogleCalendar, CoworkerMsOfficeCalendar and
CoworkerCalDavCalendar: faces of the `connections` table, declared as data.

Deleting one stops its push at the provider, which needs the running application's
provisioner: that delete hook is bound by the composition root (spacecal.app), so here
it is left unset (`on_delete=None`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import Dialect, Text, case, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator

from spacecal.db.conditions import error_expr, health_expr
from spacecal.db.models import Connection, Coworker, ProviderAccount, table_of
from spacecal.providers.registry import capabilities
from spacecal.records.fields import Field, Kind, Owner
from spacecal.records.spec import Computed, RecordSpec

connections = table_of(Connection)
coworkers = table_of(Coworker)
provider_accounts = table_of(ProviderAccount)


class _BoolText(TypeDecorator[bool]):
    """A computed flag kept as text in SQL, so the text filters (ILIKE) apply to it,
    and shown as a JSON boolean."""

    impl = Text
    cache_ok = True

    def process_result_value(self, value: object, dialect: Dialect) -> bool:
        return value == "true"


async def _connection_before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    """Attach the record to the member's provider account, so sync can use it."""
    provider = old["provider"] if old is not None else values["provider"]
    coworker_id = values.get("coworker_id")
    account_id = None
    if coworker_id is not None:
        account_id = await conn.scalar(
            select(ProviderAccount.id).where(
                ProviderAccount.coworker_id == coworker_id, ProviderAccount.provider == provider
            )
        )
    values["provider_account_id"] = account_id
    if old is None:
        # A provider without push is polled from the start (sync/polling.py).
        values["push_supported"] = capabilities(provider).push
        if account_id is not None and values.get("server_url") is None:
            # The CalDAV account's server and user, unless a full administrator set them.
            server = (
                await conn.execute(
                    select(ProviderAccount.server_url, ProviderAccount.username).where(
                        ProviderAccount.id == account_id
                    )
                )
            ).first()
            if server is not None and server.server_url is not None:
                values["server_url"] = server.server_url
                values["username"] = values.get("username") or server.username
        return
    if values.get("calendar_id", old["calendar_id"]) != old["calendar_id"]:
        # Only a calendar spacecal itself stored may be marked as made before markers
        # (sync/reconcile/verify.py): a new CalendarId must carry the marker already.
        values["marker_pending"] = False
    if (
        values.get("calendar_id", old["calendar_id"]) != old["calendar_id"]
        or account_id != old["provider_account_id"]
    ):
        # A cursor belongs to the calendar and account it was made for: followed for
        # another, it would read the old calendar (maybe the member's main one).
        values.update(
            delta_link=None, event_sync_token=None, sync_window_start=None, sync_window_end=None
        )


# Fields only spacecal or a full administrator changes (records/ownership.py): they
# decide which calendar (and, for CalDAV, which server) sync reads and writes.
PROVIDER_OWNED = frozenset(
    {
        "CalendarId",
        "SubscriptionId",
        "WatchResourceId",
        "SubscriptionExpireDate",
        "ServerUrl",
        "Username",
    }
)
# Sync cursors others may only clear (a resync request).
RESET_ONLY = frozenset({"EventSyncToken", "NextSyncToken", "SyncToken"})


def _owned(field: Field) -> Field:
    if field.name in PROVIDER_OWNED:
        return replace(field, owner=Owner.PROVIDER)
    if field.name in RESET_ONLY:
        return replace(field, owner=Owner.RESET_ONLY)
    return field


# What every provider's connection record starts with.
_COMMON_FIELDS = (
    Field(
        "ResourceId",
        Kind.INT,
        "resource_id",
        required=True,
        nullable=False,
        reference="Resource",
        description="The room or desk this calendar books.",
    ),
    Field(
        "CoworkerId",
        Kind.INT,
        "coworker_id",
        reference="Coworker",
        description="The customer who connected.",
    ),
    Field(
        "Name",
        Kind.STR,
        "name",
        required=True,
        nullable=False,
        max_length=400,
        description="Display name of the calendar in the customer's account.",
    ),
)


def _connection_fields(google: bool) -> tuple[Field, ...]:
    provider = "Google" if google else "Microsoft Graph"
    fields = [
        *_COMMON_FIELDS,
        Field(
            "SubscriptionId",
            Kind.STR,
            "subscription_id",
            required=True,
            max_length=400,
            description=f"{provider} push channel/subscription id.",
        ),
        Field(
            "CalendarId",
            Kind.STR,
            "calendar_id",
            required=True,
            max_length=1024,
            description="The provider's id of the calendar.",
        ),
        Field(
            "SubscriptionExpireDate",
            Kind.DATETIME,
            "subscription_expire_date",
            required=True,
            description="When the channel/subscription expires (UTC).",
        ),
    ]
    if google:
        fields += [
            Field(
                "WatchResourceId",
                Kind.STR,
                "watch_resource_id",
                required=True,
                max_length=400,
                description="resourceId Google gave the watch channel.",
            ),
            Field(
                "EventSyncToken",
                Kind.STR,
                "event_sync_token",
                max_length=8192,
                description="nextSyncToken for incremental sync; clear it to force a full sync.",
            ),
        ]
    return tuple(_owned(f) for f in fields)


def _caldav_fields() -> tuple[Field, ...]:
    """CoworkerCalDavCalendar: no push channel; the server and user instead (never the
    password: it lives only in the account's encrypted secret)."""
    fields = (
        *_COMMON_FIELDS,
        Field(
            "CalendarId",
            Kind.STR,
            "calendar_id",
            max_length=1024,
            description="The calendar collection's URL on the CalDAV server.",
        ),
        Field(
            "ServerUrl",
            Kind.STR,
            "server_url",
            max_length=1024,
            description="The CalDAV server the member connected (e.g. https://caldav.icloud.com).",
        ),
        Field(
            "Username",
            Kind.STR,
            "username",
            max_length=320,
            description="The member's user name on that server (the password is never shown).",
        ),
        Field(
            "SyncToken",
            Kind.STR,
            "event_sync_token",
            max_length=8192,
            description="The sync-collection token (RFC 6578); clear it to force a full sync.",
        ),
        Field(
            "LastSyncOn",
            Kind.DATETIME,
            "last_sync_at",
            read_only=True,
            description="When the calendar was last synced (UTC).",
        ),
        Field(
            "LastPollOn",
            Kind.DATETIME,
            "last_poll_at",
            read_only=True,
            description="When spacecal last polled the calendar (UTC).",
        ),
        Field(
            "NextPollOn",
            Kind.DATETIME,
            "poll_next_at",
            read_only=True,
            description="When spacecal polls it next (UTC): soon after a change, later while "
            "quiet.",
        ),
    )
    return tuple(_owned(f) for f in fields)


_coworker_join = connections.outerjoin(
    coworkers, coworkers.c.id == connections.c.coworker_id
).outerjoin(provider_accounts, provider_accounts.c.id == connections.c.provider_account_id)

# Read-only extension fields: the state of the member's account and of the sync.
_CONNECTION_COMPUTED = (
    Computed("CoworkerFullName", coworkers.c.full_name, "Coworker_FullName"),
    Computed(
        "NeedsReconnect",
        type_coerce(
            case((provider_accounts.c.status == "needs_reconnect", "true"), else_="false"),
            _BoolText(),
        ),
        "NeedsReconnect",
        kind=Kind.BOOL,
    ),
    # Derived from the sync's and the renewal's own conditions (db/conditions.py).
    Computed("Health", health_expr(connections), "Health"),
    Computed("LastError", error_expr(connections), "LastError"),
)


def _connection_spec(
    provider: str, name: str, path: str, description: str, aliases: tuple[str, ...] = ()
) -> RecordSpec:
    """One provider's face of the `connections` table."""
    return RecordSpec(
        name=name,
        path=path,
        aliases=aliases,
        table=connections,
        fields=_caldav_fields()
        if provider == "caldav"
        else _connection_fields(google=provider == "google"),
        description=description,
        scope=connections.c.provider == provider,
        fixed_values={"provider": provider},
        computed=_CONNECTION_COMPUTED,
        from_clause=_coworker_join,
        to_string=lambda row: str(row["name"]),
        before_write=_connection_before_write,
        on_delete=None,  # bound by spacecal.app: stops the push at the provider
    )


GOOGLE_CALENDARS = _connection_spec(
    "google",
    "CoworkerGoogleCalendar",
    "coworkergooglecalendars",
    "A member's Google calendar for one resource, with its push channel.",
)
MSOFFICE_CALENDARS = _connection_spec(
    "microsoft",
    "CoworkerMsOfficeCalendar",
    "coworkermsofficecalendars",
    "A member's Microsoft 365 calendar for one resource, with its Graph subscription.",
    aliases=("coworkermsoffecalendars",),  # the typo printed on older Nexudus pages
)
CALDAV_CALENDARS = _connection_spec(
    "caldav",
    "CoworkerCalDavCalendar",
    "coworkercaldavcalendars",
    "A member's calendar on a CalDAV server (Apple iCloud, Fastmail, Nextcloud, ...) for "
    "one resource; polled, as CalDAV offers no push.",
)
