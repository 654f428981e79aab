"""The tables. Timestamps are `timestamptz` (UTC) everywhere; defaults for "now" are
set by the application from `spacecal.clock`, never by the database's `now()`.

The two connection records (CoworkerGoogleCalendar, CoworkerMsOfficeCalendar) are
one table, `connections`, with a `provider` column: the sync engine treats both
alike, and event links, subscription generations and sync runs need one foreign key,
not two. The records API shows each provider's rows as its own record type.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from spacecal.db.base import TZ as TZ  # re-exported: every table module uses them
from spacecal.db.base import Base as Base


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class, typed as one (for query builders)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class RecordMixin:
    """Columns common to every Nexudus-shaped record."""

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    unique_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True, nullable=False)
    created_on: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_on: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(320))
    system_id: Mapped[str | None] = mapped_column(String(200))


class Business(RecordMixin, Base):
    __tablename__ = "businesses"

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False)
    max_booking_days_ahead: Mapped[int] = mapped_column(Integer, nullable=False, default=90)
    # The opt-in for invitations to the plain `<slug>@<mail domain>` (docs/invitations.md).
    invitations_plain_address: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    # Other bookings shown as busy blocks this many days ahead (0: off); migration 0020.
    availability_days_ahead: Mapped[int] = mapped_column(
        Integer, nullable=False, default=14, server_default="14"
    )
    availability_shows_names: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )


class Resource(RecordMixin, Base):
    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint("slot_step_minutes > 0", name="resources_step_positive"),
        CheckConstraint("resource_type IN ('room', 'desk')", name="resources_type_known"),
        Index("resources_mail_slug", "mail_slug", unique=True),
    )

    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(16), nullable=False, default="room")
    visible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    bookable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    all_day_bookable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    slot_step_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=15)
    min_booking_minutes: Mapped[int | None] = mapped_column(Integer)
    max_booking_minutes: Mapped[int | None] = mapped_column(Integer)
    # {"mon": [["08:00", "20:00"]], ...}; NULL = open around the clock (domain.OpeningHours).
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    google_calendar_id: Mapped[str | None] = mapped_column(String(1024))
    office365_calendar_id: Mapped[str | None] = mapped_column(String(1024))
    # Its part of its invitation addresses: given on first use, then kept (mail/addresses.py).
    mail_slug: Mapped[str | None] = mapped_column(String(64))


class Coworker(RecordMixin, Base):
    __tablename__ = "coworkers"

    business_id: Mapped[int] = mapped_column(
        ForeignKey("businesses.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    full_name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False, index=True)
    # Portal sign-in (members' portal); argon2 hash, never returned.
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Bumped by a password change or sign-out: portal sessions of older ones end.
    session_generation: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )


class Booking(RecordMixin, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("to_time > from_time", name="bookings_positive_span"),
        CheckConstraint(
            "source IN ('api', 'portal', 'google', 'microsoft', 'caldav', 'invitation')",
            name="bookings_source_known",
        ),
        Index("bookings_coworker_resource", "coworker_id", "resource_id"),
        Index("bookings_resource_time", "resource_id", "from_time"),
        # The overlap rule itself is an EXCLUDE constraint created in the migration
        # (int8range equality instead of btree_gist, which the embedded server lacks).
    )

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="RESTRICT"), nullable=False
    )
    coworker_id: Mapped[int | None] = mapped_column(ForeignKey("coworkers.id", ondelete="SET NULL"))
    from_time: Mapped[datetime] = mapped_column(TZ, nullable=False)
    to_time: Mapped[datetime] = mapped_column(TZ, nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    tentative: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    google_calendar_id: Mapped[str | None] = mapped_column(String(1024))
    google_event_id: Mapped[str | None] = mapped_column(String(1024))
    office365_event_id: Mapped[str | None] = mapped_column(String(1024))
    caldav_event_id: Mapped[str | None] = mapped_column(String(1024))  # internal (0022)
    repeat_series_unique_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    cancelled_at: Mapped[datetime | None] = mapped_column(TZ)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class ProviderAccount(Base):
    """A member's Google, Microsoft or CalDAV account, as consented in the portal
    (CalDAV: server, username and password, encrypted as the "refresh token")."""

    __tablename__ = "provider_accounts"
    __table_args__ = (
        CheckConstraint(
            "provider IN ('google', 'microsoft', 'caldav')", name="provider_accounts_provider"
        ),
        CheckConstraint(
            "status IN ('active', 'needs_reconnect', 'disconnected')",
            name="provider_accounts_status",
        ),
        UniqueConstraint("coworker_id", "provider", name="provider_accounts_one_per_member"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(200))
    refresh_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(TZ)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(200)), nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # The provider's usage limits (sync/limits.py, migration 0018): no write before
    # `writes_paused_until`; calendar creation paced through `calendar_pace_at`.
    writes_paused_until: Mapped[datetime | None] = mapped_column(TZ)
    calendar_pace_at: Mapped[datetime | None] = mapped_column(TZ)
    # The reconcile jobs' lock when it is not the account's own (migration 0022):
    # a CalDAV account's bucket of its server host (jobs/reconcile.py).
    job_lock: Mapped[str | None] = mapped_column(String(200))
    # A CalDAV account's server and user (shown; the password is only in the secret).
    server_url: Mapped[str | None] = mapped_column(String(1024))
    username: Mapped[str | None] = mapped_column(String(320))


CONNECTION_KEY = ("coworker_id", "resource_id", "provider")


class Connection(RecordMixin, Base):
    """One (member, resource, provider) calendar: both connection records live here."""

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint(
            "provider IN ('google', 'microsoft', 'caldav')", name="connections_provider"
        ),
        # One per (member, resource, provider): provisioning inserts against it
        # (migration 0011 resolved the duplicates an in-process lock let through).
        UniqueConstraint(*CONNECTION_KEY, name="connections_one_per_member_resource_provider"),
        Index("connections_provider_id", "provider", "id"),
        Index("connections_provider_expiry", "provider", "subscription_expire_date"),
        Index("connections_coworker_resource", "coworker_id", "resource_id"),
        Index("connections_provider_resource", "provider", "resource_id"),
        Index(
            "connections_sync_requested",
            "sync_requested_at",
            postgresql_where="sync_requested_at IS NOT NULL",
        ),
        Index(
            "connections_setup_after",
            "setup_after",
            postgresql_where="setup_after IS NOT NULL",
        ),
        Index(
            "connections_poll_next",
            "poll_next_at",
            postgresql_where="poll_next_at IS NOT NULL",
        ),
    )

    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    # --- the record's public fields -------------------------------------------
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="RESTRICT"), nullable=False
    )
    coworker_id: Mapped[int | None] = mapped_column(ForeignKey("coworkers.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(400), nullable=False)
    subscription_id: Mapped[str | None] = mapped_column(String(400))
    calendar_id: Mapped[str | None] = mapped_column(String(1024))
    subscription_expire_date: Mapped[datetime | None] = mapped_column(TZ)
    watch_resource_id: Mapped[str | None] = mapped_column(String(400))  # Google only
    event_sync_token: Mapped[str | None] = mapped_column(Text)  # Google only (public)
    # --- internal: never in the API -------------------------------------------
    provider_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_accounts.id", ondelete="SET NULL"), index=True
    )
    delta_link: Mapped[str | None] = mapped_column(Text)  # Microsoft
    sync_window_start: Mapped[datetime | None] = mapped_column(TZ)
    sync_window_end: Mapped[datetime | None] = mapped_column(TZ)
    # The sync loop's condition (db/conditions.py `Health`); the health shown anywhere is
    # derived there (`health_expr`), with the renewal's own condition below.
    health: Mapped[str] = mapped_column(String(20), nullable=False, default="new")
    # The one "reconnect" email was queued (mail/notices.py; migration 0024).
    reconnect_mailed_at: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(TZ)
    last_notification_at: Mapped[datetime | None] = mapped_column(TZ)
    last_sync_at: Mapped[datetime | None] = mapped_column(TZ)
    push_supported: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(TZ)
    # A set-up waiting for the account's limits (sync/accounts/waiting.py resumes it).
    setup_after: Mapped[datetime | None] = mapped_column(TZ)
    # --- keep-alive (sync/upkeep/keepalive.py): what is still owed, level-triggered --------
    renew_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    resync_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rename_pending: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    renewal_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    renewal_retry_at: Mapped[datetime | None] = mapped_column(TZ)
    renewal_error: Mapped[str | None] = mapped_column(Text)
    renewal_error_at: Mapped[datetime | None] = mapped_column(TZ)
    # The calendar spacecal verified it made for this account (migration 0014): sync
    # uses `calendar_id` only while both match it (sync/accounts/verify.py), so an id
    # an administrator set is stored but not synced until verified.
    verified_calendar_id: Mapped[str | None] = mapped_column(String(1024))
    verified_account_id: Mapped[int | None] = mapped_column(BigInteger)
    # A Graph calendar made before spacecal marked its calendars: the mark job checks
    # it and writes the marker (sync/accounts/verify.py).
    marker_pending: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )
    # Marks left by webhook intake; the worker's dispatcher turns them into jobs.
    sync_requested_at: Mapped[datetime | None] = mapped_column(TZ)
    notifications_pending: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sync_requested_trace: Mapped[str | None] = mapped_column(String(64))
    # --- CalDAV (migration 0022) ------------------------------------------------
    # The server and user the record shows (ServerUrl, Username; provider-owned).
    server_url: Mapped[str | None] = mapped_column(String(1024))
    username: Mapped[str | None] = mapped_column(String(320))
    # The poll schedule of a poll-delivery provider (sync/polling.py).
    poll_next_at: Mapped[datetime | None] = mapped_column(TZ)
    poll_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    last_poll_at: Mapped[datetime | None] = mapped_column(TZ)
    # Unchanged polls since the last change (migration 0027): the first
    # `caldav_poll_active_polls` keep the short interval.
    poll_quiet_polls: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )


class WebHook(RecordMixin, Base):
    """An outbound webhook (the Nexudus WebHook record; spacecal.outbound).

    Row triggers on `bookings` and `connections` (migration 0008) defer one delivery
    job per active webhook of the action, in the transaction of the change."""

    __tablename__ = "webhooks"
    __table_args__ = (Index("webhooks_active_action", "action", postgresql_where="active"),)

    name: Mapped[str] = mapped_column(String(200), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # TokenCipher ciphertext of the signing secret; write-only in the API.
    secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_trigger: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Meta(Base):
    """Small facts about the deployment, e.g. the fingerprint of the encryption keys."""

    __tablename__ = "spacecal_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


# Tables in their own modules (this one is long enough); importing them here puts
# them on Base.metadata wherever the models are loaded, and keeps every name importable
# from here. (E402 for this file in pyproject: these imports must come last.)
from spacecal.db import mail_models as mail_models
from spacecal.db.auth_models import ApiToken as ApiToken
from spacecal.db.auth_models import ApiUser as ApiUser
from spacecal.db.auth_models import LoginCounter as LoginCounter
from spacecal.db.auth_models import MemberSignInLink as MemberSignInLink
from spacecal.db.auth_models import OAuthState as OAuthState
from spacecal.db.mail_models import BookingInvite as BookingInvite
from spacecal.db.mail_models import Invitation as Invitation
from spacecal.db.mail_models import MailOutbox as MailOutbox
from spacecal.db.sync_models import ActivityHourly as ActivityHourly
from spacecal.db.sync_models import BookingChange as BookingChange
from spacecal.db.sync_models import DeferredInstance as DeferredInstance
from spacecal.db.sync_models import DetachedCalendar as DetachedCalendar
from spacecal.db.sync_models import EventLink as EventLink
from spacecal.db.sync_models import RequestPace as RequestPace
from spacecal.db.sync_models import SubscriptionGeneration as SubscriptionGeneration
from spacecal.db.sync_models import SyncRun as SyncRun
