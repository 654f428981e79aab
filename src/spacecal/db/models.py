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


class ApiUser(Base):
    """A user of the records API (an operator or an integration), not a member."""

    __tablename__ = "api_users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(100)), nullable=False, default=list)
    full_admin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_on: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # Bumped by a password change, deactivation, token revocation or console sign-out:
    # console sessions and cached Basic credentials of older generations end.
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class ApiToken(Base):
    """Bearer and refresh tokens, stored as SHA-256 hashes: a database leak grants nothing."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("kind IN ('access', 'refresh')", name="api_tokens_kind"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("api_users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(TZ)
    # The refresh-token chain (one per password grant): reuse of a spent refresh token
    # revokes the chain, and a chain ends `refresh_chain_days` after it started.
    chain: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, index=True)
    chain_started_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class LoginCounter(Base):
    """The sign-in limiter's count for one key (account+address, address or account)
    in a fixed window from its first attempt; shared by every API process."""

    __tablename__ = "login_counters"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(TZ, nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)


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


class RequestPace(Base):
    """A request budget shared by every process (sync/pacing.py, migration 0021): the
    theoretical time of the scope's next provider request."""

    __tablename__ = "request_pace"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    pace_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


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
    # The poll schedule of a poll-delivery provider (sync/upkeep/poller.py).
    poll_next_at: Mapped[datetime | None] = mapped_column(TZ)
    poll_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    last_poll_at: Mapped[datetime | None] = mapped_column(TZ)


class SubscriptionGeneration(Base):
    """A Google channel or Graph subscription. Old and new overlap during renewal."""

    __tablename__ = "subscription_generations"
    __table_args__ = (
        CheckConstraint("status IN ('live', 'stopping', 'stopped')", name="subgen_status"),
        UniqueConstraint("provider", "subscription_id", name="subgen_unique_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connections.id", ondelete="SET NULL"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    subscription_id: Mapped[str] = mapped_column(String(400), nullable=False)
    watch_resource_id: Mapped[str | None] = mapped_column(String(400))
    # Channel token (Google) or clientState (Graph): random per generation.
    secret: Mapped[str] = mapped_column(String(256), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="live")
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # The account that can stop it, kept when the connection row is deleted.
    provider_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("provider_accounts.id", ondelete="SET NULL")
    )
    # A stop that failed (connection gone) is tried again after a growing wait.
    stop_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stop_retry_at: Mapped[datetime | None] = mapped_column(TZ)


class DetachedCalendar(Base):
    """A calendar kept after its connection was disconnected (resource unbookable or
    deleted): the note saying so is still to be written (sync/upkeep/detached_calendars.py)."""

    __tablename__ = "detached_calendars"
    __table_args__ = (Index("detached_calendars_account", "provider_account_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    provider_account_id: Mapped[int] = mapped_column(
        ForeignKey("provider_accounts.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    calendar_id: Mapped[str] = mapped_column(String(1024), nullable=False)
    name: Mapped[str] = mapped_column(String(400), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(TZ)
    last_error: Mapped[str | None] = mapped_column(Text)


class EventLink(Base):
    """Provider event (or instance) ↔ booking, with what we last wrote (echo detection)."""

    __tablename__ = "event_links"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_key", name="event_links_unique_event"),
        Index("event_links_booking", "booking_id"),
        CheckConstraint("kind IN ('booking', 'block')", name="event_links_kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), nullable=False
    )
    event_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    series_key: Mapped[str | None] = mapped_column(String(1024))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
    written_etag: Mapped[str | None] = mapped_column(String(400))
    booking_version: Mapped[int | None] = mapped_column(Integer)
    refused_reason: Mapped[str | None] = mapped_column(Text)
    refused_start: Mapped[datetime | None] = mapped_column(TZ)
    refused_end: Mapped[datetime | None] = mapped_column(TZ)
    refused_all_day: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # The calendar write this event is owed (mark, put back, unmark); None when none.
    pending_write: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    pending_since: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # booking: the member's own booking event; block: another booking shown busy
    # (sync/reconcile/blocks.py). Migration 0020.
    kind: Mapped[str] = mapped_column(
        String(16), nullable=False, default="booking", server_default="booking"
    )
    # A block deleted by the member is written again under generation + 1 (a new key).
    generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # The opaque value in spacecal's event property; never read back by sync. '' on a
    # member's own event (no property of ours); NULL: written before markers, still
    # carrying the booking id (sync/reconcile/scrub.py).
    marker: Mapped[str | None] = mapped_column(String(64))
    block_title: Mapped[str | None] = mapped_column(Text)
    put_backs: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    put_backs_since: Mapped[datetime | None] = mapped_column(TZ)


class BookingChange(Base):
    """One booking change owed to the resource's other calendars (their blocks):
    written in the booking's transaction, expanded by the dispatcher into marks."""

    __tablename__ = "booking_changes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class DeferredInstance(Base):
    """An unlinked series instance beyond the booking horizon, as last pulled: decided
    when the horizon reaches it (sync/reconcile/deferred.py; migration 0017)."""

    __tablename__ = "deferred_instances"
    __table_args__ = (Index("deferred_instances_start", "start_time"),)

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    event_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    series_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    start_time: Mapped[datetime] = mapped_column(TZ, nullable=False)
    end_time: Mapped[datetime] = mapped_column(TZ, nullable=False)
    all_day: Mapped[bool] = mapped_column(Boolean, nullable=False)
    tentative: Mapped[bool] = mapped_column(Boolean, nullable=False)
    original_start: Mapped[datetime | None] = mapped_column(TZ)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    changed_at: Mapped[datetime | None] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class Invitation(Base):
    """What spacecal decided for an invitation (UID) and each of its instances
    (`instance_key` '' = the event or series itself; else the instance's original
    start in UTC); the '' row keeps the original ORGANIZER and the last SEQUENCE and
    DTSTAMP applied (mail/invitations.py; migration 0024)."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'cancelled')",
            name="invitations_status_known",
        ),
        UniqueConstraint(
            "coworker_id", "resource_id", "uid", "instance_key", name="invitations_instance"
        ),
        Index("invitations_booking", "booking_id"),
        Index("invitations_recent", "coworker_id", "updated_at"),
        Index(
            "invitations_horizon",
            "decided_until",
            postgresql_where=text("decided_until IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), nullable=False
    )
    uid: Mapped[str] = mapped_column(String(1024), nullable=False)
    instance_key: Mapped[str] = mapped_column(String(64), nullable=False, server_default="")
    organizer: Mapped[str] = mapped_column(String(320), nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    dtstamp: Mapped[datetime | None] = mapped_column(TZ)
    address_id: Mapped[int | None] = mapped_column(BigInteger)
    # The address the invitation reached: replies (also later ones) come from it.
    address: Mapped[str] = mapped_column(String(320), nullable=False, server_default="")
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
    start_time: Mapped[datetime | None] = mapped_column(TZ)
    end_time: Mapped[datetime | None] = mapped_column(TZ)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A series: its last applied VEVENTs, and how far its instances were decided.
    calendar: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    decided_until: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class BookingInvite(Base):
    """A booking made elsewhere, sent as a REQUEST to a member who books its resource
    by invitation (mail/elsewhere.py; migration 0024)."""

    __tablename__ = "booking_invites"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True
    )
    uid: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    cancelled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    partstat: Mapped[str | None] = mapped_column(String(16))
    replied_at: Mapped[datetime | None] = mapped_column(TZ)
    sent_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class MailOutbox(Base):
    """One outgoing message, queued in the transaction that decided it and sent by the
    sender job with retries (mail/outbox.py; migration 0024)."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        Index(
            "mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("sent_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    from_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(998), nullable=False)
    body_text: Mapped[str] = mapped_column(Text, nullable=False)
    calendar: Mapped[bytes | None] = mapped_column(LargeBinary)
    method: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(TZ)
    failed_at: Mapped[datetime | None] = mapped_column(TZ)


class SyncRun(Base):
    """One reconcile of one connection: history for the console."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), nullable=False, index=True
    )
    started_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(TZ)
    outcome: Mapped[str | None] = mapped_column(String(20))
    full_sync: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    changes_pulled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    writes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class ActivityHourly(Base):
    """Counts per hour for the console's charts (kinds: see spacecal.activity)."""

    __tablename__ = "activity_hourly"

    hour: Mapped[datetime] = mapped_column(TZ, primary_key=True)
    business_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


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


class MemberSignInLink(Base):
    """A one-time portal sign-in link an admin issued (stored hashed)."""

    __tablename__ = "member_sign_in_links"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(TZ)


class OAuthState(Base):
    """One OAuth connect attempt: single-use state, encrypted PKCE verifier."""

    __tablename__ = "oauth_states"
    __table_args__ = (
        CheckConstraint("provider IN ('google', 'microsoft')", name="oauth_states_provider"),
    )

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False
    )
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    code_verifier_enc: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(TZ)


class Meta(Base):
    """Small facts about the deployment, e.g. the fingerprint of the encryption keys."""

    __tablename__ = "spacecal_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


# The invitation-by-mail tables live in their own module (this one is long enough);
# importing it here puts them on Base.metadata wherever the models are loaded.
from spacecal.db import mail_models as mail_models  # noqa: E402
