"""The tables of invitations by mail, receiving side (migration 0023; spacecal.mail)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from spacecal.db.base import TZ, Base


class InvitationAddress(Base):
    """A member's personal address for one resource: `<slug>+<token>@<mail domain>`.
    A replaced token keeps its row (`replaced_at`): it still routes updates and
    cancels of the UIDs it booked."""

    __tablename__ = "invitation_addresses"
    __table_args__ = (
        UniqueConstraint("token", name="invitation_addresses_token"),
        Index(
            "invitation_addresses_current",
            "coworker_id",
            "resource_id",
            unique=True,
            postgresql_where="replaced_at IS NULL",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), nullable=False
    )
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    replaced_at: Mapped[datetime | None] = mapped_column(TZ)


class MailSender(Base):
    """An extra sender address of a member, confirmed from the portal by a mailed link
    (the registered email counts without a row)."""

    __tablename__ = "mail_senders"
    __table_args__ = (
        UniqueConstraint("coworker_id", "address", name="mail_senders_member_address"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    coworker_id: Mapped[int] = mapped_column(
        ForeignKey("coworkers.id", ondelete="CASCADE"), nullable=False
    )
    address: Mapped[str] = mapped_column(String(320), nullable=False)  # lowercased
    confirm_hash: Mapped[bytes | None] = mapped_column(LargeBinary)  # sha256 of the link's token
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(TZ)


class MailMessage(Base):
    """One accepted (message, recipient), committed before the SMTP 250."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'done', 'failed')", name="mail_messages_status"),
        Index("mail_messages_received_at", "received_at"),
        Index("mail_messages_coworker", "coworker_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    mail_from: Mapped[str] = mapped_column(String(320), nullable=False)
    rcpt_to: Mapped[str] = mapped_column(String(320), nullable=False)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), nullable=False
    )
    coworker_id: Mapped[int | None] = mapped_column(ForeignKey("coworkers.id", ondelete="CASCADE"))
    address_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation_addresses.id", ondelete="CASCADE")
    )
    peer: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="queued", server_default=text("'queued'")
    )
    outcome: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(TZ)


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
