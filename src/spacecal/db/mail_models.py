"""The tables of invitations by mail, receiving side (migration 0023; spacecal.mail)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
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
