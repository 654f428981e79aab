"""What every Graph handler shares: the emulator's state and the request plumbing.

Authentication follows Graph: no bearer → 401 ``InvalidAuthenticationToken``
"Access token is empty."; unknown or revoked token → 401 "Access token validation
failure."; expired → 401 "Lifetime validation failed, the token is expired.". Calendar
and subscription routes need ``Calendars.ReadWrite`` (``Calendars.Read`` suffices for
GETs), else 403 ``ErrorAccessDenied``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request

from .clocklike import ClockLike
from .delta import DeltaEngine
from .errors import GraphError, bad_request
from .identity_store import AccessGrant, Account, IdentityStore, has_scope
from .ids import IdFactory
from .mailbox import Mailbox


@dataclass
class Caller:
    account: Account
    grant: AccessGrant
    mailbox: Mailbox


class GraphState:
    """The mutable world one emulator serves; shared by routes, control API and notifier."""

    def __init__(
        self,
        ids: IdFactory,
        clock: ClockLike,
        identity: IdentityStore,
        delta: DeltaEngine,
        base_url: str,
    ) -> None:
        self.ids = ids
        self.clock = clock
        self.identity = identity
        self.delta = delta
        self.base_url = base_url.rstrip("/")
        self.mailboxes: dict[str, Mailbox] = {}

    def mailbox_of(self, account: Account) -> Mailbox:
        box = self.mailboxes.get(account.user_id)
        if box is None:
            box = Mailbox(account.user_id, self.ids, self.clock)
            self.mailboxes[account.user_id] = box
            self.on_new_mailbox(box)
        return box

    def on_new_mailbox(self, mailbox: Mailbox) -> None:
        """Hook: the emulator attaches its change listeners here."""

    def account_for_bearer(self, headers: dict[str, str]) -> str | None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        grant = self.identity.authenticate(auth[7:].strip())
        if grant is None:
            return None
        return self.identity.accounts[grant.user_id].email

    def caller(self, request: Request, scope_needed: str | None = "Calendars.ReadWrite") -> Caller:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        token = auth[7:].strip()
        grant = self.identity.authenticate(token)
        if grant is None:
            message = (
                "Lifetime validation failed, the token is expired."
                if self.identity.is_expired(token)
                else "Access token validation failure."
            )
            raise GraphError(401, "InvalidAuthenticationToken", message)
        if scope_needed is not None:
            ok = has_scope(grant.scopes, scope_needed) or (
                request.method == "GET" and has_scope(grant.scopes, "Calendars.Read")
            )
            if not ok:
                raise GraphError(
                    403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
        account = self.identity.accounts[grant.user_id]
        return Caller(account, grant, self.mailbox_of(account))


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except ValueError as exc:
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload.") from exc
    if not isinstance(data, dict):
        raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
    return data


def query_datetime(request: Request, name: str) -> datetime | None:
    """A ``startDateTime``/``endDateTime`` query value (any case); naive means UTC."""
    raw = next((v for k, v in request.query_params.items() if k.lower() == name.lower()), None)
    if raw is None:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise bad_request(
            f"The parameter '{name}' does not have a valid value.", "ErrorInvalidParameter"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def window(request: Request) -> tuple[datetime, datetime]:
    start = query_datetime(request, "startDateTime")
    end = query_datetime(request, "endDateTime")
    if start is None or end is None:
        raise bad_request(
            "This request requires a time window specified by the query string parameters "
            "StartDateTime and EndDateTime.",
            "ErrorInvalidParameter",
        )
    if end <= start:
        raise bad_request("EndDateTime must be after StartDateTime.", "ErrorInvalidParameter")
    refuse_long_range(start, end)
    return start, end


#: Graph refuses a calendarView (and its delta) spanning more than this.
MAX_VIEW_RANGE = timedelta(days=1825)


def refuse_long_range(start: datetime, end: datetime) -> None:
    """Graph answers a calendarView range longer than 1,825 days (five years) with 400
    ErrorInvalidParameter; a client that asks for more must learn it here too."""
    if end - start > MAX_VIEW_RANGE:
        raise bad_request(
            "The time range between StartDateTime and EndDateTime must not exceed 1825 days.",
            "ErrorInvalidParameter",
        )
