"""Sessions and CSRF for the server-rendered parts: the members' portal, and the
console with its own purpose, cookie names and path (admin/runtime.py).

The session is a signed cookie (itsdangerous) holding the coworker id, the person's
session generation, a nonce and the session's CSRF token; the part reading it ends the
session when the person's generation has moved on (sign-out, password change), so a
copied cookie stops working then; the signing keys are derived from SPACECAL_SECRET_KEYS, so every
process of a deployment accepts every other's cookies and a key rotation keeps
sessions signed with the previous key valid until they expire. Forms carry a CSRF
token checked on every POST: the session's token when signed in, else a double-submit
cookie (sign-in forms, so nobody can sign a member into someone else's session).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "spacecal_session"
CSRF_COOKIE = "spacecal_csrf"


@dataclass(frozen=True)
class Session:
    coworker_id: int
    nonce: str
    csrf: str
    generation: int = 0


class CsrfRejected(Exception):
    """A POST without the right CSRF token."""


class SessionCodec:
    """Signed session cookies and CSRF tokens for one area of the site.

    `purpose`, the cookie names and `path` keep areas apart: the admin console uses its
    own (spacecal.admin), so a member's portal cookie is never an admin's session."""

    def __init__(
        self,
        keys: list[str],
        max_age_seconds: int,
        secure: bool,
        *,
        purpose: str = "spacecal-portal-session",
        session_cookie: str = SESSION_COOKIE,
        csrf_cookie: str = CSRF_COOKIE,
        path: str = "/portal",
    ) -> None:
        # itsdangerous signs with the last key and accepts all: newest last.
        derived = [
            hmac.new(k.encode(), purpose.encode(), hashlib.sha256).hexdigest()
            for k in reversed(keys)
        ]
        self._serializer = URLSafeTimedSerializer(derived, salt="spacecal-portal")
        self.max_age = max_age_seconds
        self.secure = secure
        self.session_cookie = session_cookie
        self.csrf_cookie = csrf_cookie
        self.path = path

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(self.session_cookie)
        if not raw:
            return None
        try:
            data: Any = self._serializer.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        try:
            return Session(int(data["c"]), str(data["n"]), str(data["x"]), int(data.get("g", 0)))
        except (KeyError, TypeError, ValueError):
            return None

    def start(self, response: Response, coworker_id: int, generation: int = 0) -> Session:
        """Sign `coworker_id` in at their current session `generation`."""
        session = Session(
            coworker_id, secrets.token_urlsafe(16), secrets.token_urlsafe(32), generation
        )
        value = self._serializer.dumps(
            {"c": coworker_id, "n": session.nonce, "x": session.csrf, "g": generation}
        )
        response.set_cookie(
            self.session_cookie,
            value,
            max_age=self.max_age,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path=self.path,
        )
        return session

    def end(self, response: Response) -> None:
        response.delete_cookie(
            self.session_cookie, path=self.path, httponly=True, samesite="lax", secure=self.secure
        )

    def csrf_for(self, request: Request, session: Session | None) -> tuple[str, str | None]:
        """The token to put in forms, and a new double-submit cookie value to set (when
        signed out and the browser has none yet)."""
        if session is not None:
            return session.csrf, None
        existing = request.cookies.get(self.csrf_cookie)
        if existing and len(existing) >= 32:
            return existing, None
        fresh = secrets.token_urlsafe(32)
        return fresh, fresh

    def set_csrf_cookie(self, response: Response, value: str) -> None:
        response.set_cookie(
            self.csrf_cookie,
            value,
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path=self.path,
        )

    async def check_csrf(self, request: Request, session: Session | None) -> dict[str, str]:
        """The POSTed form, after checking its CSRF token; raises CsrfRejected.

        Only a form-encoded body is read (web/limits.py refuses others before this):
        a multipart body would be spooled to disk before its token could be checked."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise CsrfRejected()
        form = await request.form(max_files=0)
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        sent = fields.get("csrf_token", "")
        expected = (
            session.csrf if session is not None else request.cookies.get(self.csrf_cookie, "")
        )
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            raise CsrfRejected()
        return fields
