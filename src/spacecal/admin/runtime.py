"""What the console's handlers share: the application's services (settings, database,
authenticator, and the provisioner that stops a connection's push at the provider on
disconnect: web/services.py) plus the console's own session codec, made on first use."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select, update

from spacecal.admin.access import AdminUser
from spacecal.config import Settings
from spacecal.db.models import ApiUser
from spacecal.web.auth import Authenticator
from spacecal.web.services import ServicesView, services_of
from spacecal.web.sessions import Session, SessionCodec

ADMIN_PATH = "/admin"
SESSION_COOKIE = "spacecal_admin_session"
CSRF_COOKIE = "spacecal_admin_csrf"


def admin_sessions(settings: Settings, keys: list[str]) -> SessionCodec:
    """The portal's session and CSRF helpers with the console's own purpose, cookie
    names and path: a member's portal cookie can never pass as an admin session."""
    return SessionCodec(
        keys,
        int(settings.admin_session_hours * 3600),
        secure=settings.effective_public_url().startswith("https://"),
        purpose="spacecal-admin-session",
        session_cookie=SESSION_COOKIE,
        csrf_cookie=CSRF_COOKIE,
        path=ADMIN_PATH,
    )


@dataclass
class AdminRuntime(ServicesView):
    sessions: SessionCodec

    @property
    def auth(self) -> Authenticator:
        return self.services.auth

    async def current_user(self, request: Request) -> tuple[Session, AdminUser] | None:
        """The signed-in, still active API user, or None (also when the user signed
        out or changed password since this session began: its generation moved on)."""
        session = self.sessions.read(request)
        if session is None:
            return None
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ApiUser.id, ApiUser.email, ApiUser.roles, ApiUser.full_admin).where(
                        ApiUser.id == session.coworker_id,
                        ApiUser.active.is_(True),
                        ApiUser.generation == session.generation,
                    )
                )
            ).first()
        if row is None:
            return None
        return session, AdminUser(row.id, row.email, frozenset(row.roles), row.full_admin)

    async def end_sessions(self, user_id: int) -> None:
        """Sign the user out of the console everywhere (bumps their generation)."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(ApiUser)
                .where(ApiUser.id == user_id)
                .values(generation=ApiUser.generation + 1)
            )


def runtime(request: Request) -> AdminRuntime:
    """The console's runtime for this request's app (made on first use)."""
    services = services_of(request)
    made: AdminRuntime | None = getattr(request.app.state, "admin", None)
    if made is None or made.services is not services:
        made = AdminRuntime(
            services=services,
            sessions=admin_sessions(services.settings, services.db.cipher.keys),
        )
        request.app.state.admin = made
    return made
