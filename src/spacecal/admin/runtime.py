"""What the console's handlers share, built once per app from the API's state (the
settings, database and authenticator) and the portal's (the provisioner that stops a
connection's push at the provider on disconnect)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select

from spacecal.admin.access import AdminUser
from spacecal.api.auth import Authenticator
from spacecal.api.state import AppState
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import ApiUser
from spacecal.portal.security import Session, SessionCodec
from spacecal.sync.accounts.provisioning import Provisioner

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
class AdminRuntime:
    settings: Settings
    db: Database
    auth: Authenticator
    sessions: SessionCodec
    app: Any  # the FastAPI app: its portal runtime holds the provisioner

    @property
    def provisioner(self) -> Provisioner:
        portal = self.app.state.portal
        provisioner: Provisioner = portal.provisioner
        return provisioner

    async def current_user(self, request: Request) -> tuple[Session, AdminUser] | None:
        """The signed-in, still active API user, or None."""
        session = self.sessions.read(request)
        if session is None:
            return None
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(ApiUser.id, ApiUser.email, ApiUser.roles, ApiUser.full_admin).where(
                        ApiUser.id == session.coworker_id, ApiUser.active.is_(True)
                    )
                )
            ).first()
        if row is None:
            return None
        return session, AdminUser(row.id, row.email, frozenset(row.roles), row.full_admin)


def runtime(request: Request) -> AdminRuntime:
    """The console's runtime for this request's app (made on first use)."""
    state: AppState = request.app.state.spacecal
    made: AdminRuntime | None = getattr(request.app.state, "admin", None)
    if made is None or made.db is not state.db:
        made = AdminRuntime(
            settings=state.settings,
            db=state.db,
            auth=state.auth,
            sessions=admin_sessions(state.settings, state.db.cipher.keys),
            app=request.app,
        )
        request.app.state.admin = made
    return made
