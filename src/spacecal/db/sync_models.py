"""The sync engine's own tables: event links, subscriptions, detached calendars,
booking changes, deferred series instances, request pacing, sync history and
activity (re-exported by db/models.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from spacecal.db.base import TZ, Base


class RequestPace(Base):
    """A request budget shared by every process (sync/pacing.py, migration 0021): the
    theoretical time of the scope's next provider request."""

    __tablename__ = "request_pace"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    pace_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


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
    # Availability blocks left in the calendar: removed before the note is written
    # (they would go stale: nothing keeps them true any more).
    block_event_ids: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, default=list, server_default="[]"
    )


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
