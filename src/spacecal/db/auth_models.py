"""Who may sign in: API users and tokens, sign-in counters, members' sign-in links
and OAuth states (re-exported by db/models.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from spacecal.db.base import TZ, Base


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
