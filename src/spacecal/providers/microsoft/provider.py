"""`MicrosoftProvider`: Microsoft identity platform v2.0 and Graph v1.0 behind
`CalendarProvider`.

Every URL comes from settings (login base + tenant, Graph base). Refresh tokens
rotate on every refresh: `AccountSession` saves the new one before using it.

Graph calendars have no description property (a calendar resource holds a name, a
colour and owner flags only), so a calendar note (`set_calendar_note`, written when
spacecal stops syncing a calendar) is shown in the one place the member sees: the
name, as a suffix, "Meeting Room A · Riverside (no longer synced)". It also keeps a
later connection of the same resource from adopting the old calendar by its name.
Calendar names are unique per mailbox (409 ErrorFolderExists), so an older calendar
already holding that name makes this one "(no longer synced 2)", and so on.

The plumbing shared by every call is `graph.py`; subscriptions are `subscriptions.py`;
the delta pull is `delta.py`. This module holds sign-in, calendars and event writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from spacecal.providers.base import (
    AccountIdentity,
    CalendarFacts,
    CalendarNote,
    Capabilities,
    Conflict,
    Delivery,
    EventWrite,
    NotFound,
    ProviderError,
    ProviderName,
    RemoteCalendar,
    TokenSet,
    WrittenEvent,
)
from spacecal.providers.http import token_grant
from spacecal.providers.microsoft.consent import admin_consent_url, needs_admin_consent
from spacecal.providers.microsoft.delta import GraphDelta
from spacecal.providers.microsoft.marker import MARKER, MARKER_EXPAND, facts_of
from spacecal.providers.microsoft.subscriptions import GraphSubscriptions
from spacecal.providers.microsoft.wire import (
    event_body,
    marker_properties,
    text_body,
    time_body,
    transaction_id_for,
)
from spacecal.providers.paths import calendar_segment, event_segment

SCOPES = ("openid", "email", "offline_access", "User.Read", "Calendars.ReadWrite")


# How many numbered names a noted calendar tries before giving up (Conflict).
_NOTE_NAME_TRIES = 5


class MicrosoftProvider(GraphSubscriptions, GraphDelta):
    """Microsoft Graph v1.0. Construct with the settings and an httpx2 client."""

    name: ProviderName = "microsoft"
    capabilities = Capabilities(
        delivery=Delivery.PUSH,
        windowed=True,
        renews_in_place=True,
        webhook_path="/webhooks/microsoft",
        lifecycle_path="/webhooks/microsoft/lifecycle",
    )

    def __repr__(self) -> str:  # the client secret stays out of logs
        return f"MicrosoftProvider(graph={self._graph!r}, client_id={self._client_id!r})"

    # -- OAuth ------------------------------------------------------------------------

    def admin_consent_url(self, redirect_uri: str) -> str | None:
        return admin_consent_url(self._login_base, self._tenant, self._client_id, redirect_uri)

    def needs_admin_consent(self, params: Mapping[str, str]) -> bool:
        return needs_admin_consent(params)

    def authorize_url(self, *, state: str, code_challenge: str, redirect_uri: str) -> str:
        query = {
            "client_id": self._client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self._authorize_url}?{urlencode(query)}"

    async def exchange_code(
        self, *, code: str, code_verifier: str, redirect_uri: str
    ) -> tuple[TokenSet, AccountIdentity]:
        """Tokens, then who consented from `/me` (User.Read): `id` is the stable
        object id, the email is `mail` or, without a mailbox address, the UPN."""
        tokens, _ = await token_grant(
            self._http,
            self._token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "scope": " ".join(SCOPES),
            },
        )
        me = await self._call("GET", "/me", tokens.access_token)
        email = me.get("mail") or me.get("userPrincipalName")
        if not isinstance(email, str) or not me.get("id"):
            raise ProviderError("Graph /me answered without id or email")
        return tokens, AccountIdentity(email=email.lower(), subject=str(me["id"]))

    async def refresh(self, refresh_token: str) -> TokenSet:
        """A new access token AND a new refresh token (they rotate): save it first."""
        tokens, _ = await token_grant(
            self._http,
            self._token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "scope": " ".join(SCOPES),
            },
        )
        return tokens

    async def revoke(self, token: str) -> None:
        """The v2.0 identity platform has no token revocation endpoint: forgetting the
        tokens is all an app can do (the member removes consent in their account)."""
        return None

    # -- calendars --------------------------------------------------------------------

    async def create_calendar(self, access: str, name: str, time_zone: str) -> RemoteCalendar:
        """Graph calendars have no zone of their own (events carry theirs). A duplicate
        name answers 409 ErrorFolderExists -> Conflict."""
        request = {"name": name, "singleValueExtendedProperties": [MARKER]}
        body = await self._call("POST", "/me/calendars", access, body=request)
        return RemoteCalendar(id=str(body["id"]), name=str(body.get("name") or name))

    async def list_calendars(self, access: str) -> list[RemoteCalendar]:
        """Every calendar but the default one (Calendars.ReadWrite sees them all)."""
        return [
            RemoteCalendar(id=str(item["id"]), name=str(item.get("name") or ""))
            for item in await self._pages(self._graph + "/me/calendars", access)
            if not item.get("isDefaultCalendar")
        ]

    async def rename_calendar(self, access: str, calendar_id: str, name: str) -> None:
        await self._call(
            "PATCH", f"/me/calendars/{calendar_segment(calendar_id)}", access, body={"name": name}
        )

    async def calendar_facts(
        self, access: str, calendar_id: str, account_email: str
    ) -> CalendarFacts:
        """The calendar with spacecal's marker expanded, its owner and `canEdit`."""
        path = f"/me/calendars/{calendar_segment(calendar_id)}"
        body = await self._call("GET", path, access, params={"$expand": MARKER_EXPAND})
        return facts_of(body, account_email)

    async def mark_calendar(self, access: str, calendar_id: str) -> None:
        await self._call(
            "PATCH",
            f"/me/calendars/{calendar_segment(calendar_id)}",
            access,
            body={"singleValueExtendedProperties": [MARKER]},
        )

    async def set_calendar_note(
        self, access: str, calendar_id: str, *, name: str, note: CalendarNote | None
    ) -> str:
        """No description in Graph: the note's label becomes a suffix of the name (see
        the module docstring); taking the note away restores the plain name."""
        if note is None:
            await self.rename_calendar(access, calendar_id, name)
            return name
        for n in range(1, _NOTE_NAME_TRIES + 1):
            label = note.label if n == 1 else f"{note.label} {n}"
            noted = f"{name} ({label})"
            try:
                await self.rename_calendar(access, calendar_id, noted)
            except Conflict:
                if n == _NOTE_NAME_TRIES:
                    raise
                continue
            return noted
        raise AssertionError("unreachable")  # pragma: no cover

    async def delete_calendar(self, access: str, calendar_id: str) -> None:
        """Already gone counts as done."""
        try:
            await self._call("DELETE", f"/me/calendars/{calendar_segment(calendar_id)}", access)
        except NotFound:
            return

    # -- writes -----------------------------------------------------------------------

    async def create_event(self, access: str, calendar_id: str, event: EventWrite) -> WrittenEvent:
        """POST with a transactionId derived from the idempotency key: Graph answers a
        repeat with the event it already made."""
        body = {**event_body(event), "transactionId": transaction_id_for(event.idempotency_key)}
        made = await self._call(
            "POST", f"/me/calendars/{calendar_segment(calendar_id)}/events", access, body=body
        )
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["changeKey"]))

    async def update_event(
        self, access: str, calendar_id: str, event_id: str, event: EventWrite
    ) -> WrittenEvent:
        """Graph has no PUT for events: PATCH every field spacecal owns."""
        made = await self._call(
            "PATCH", f"/me/events/{event_segment(event_id)}", access, body=event_body(event)
        )
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["changeKey"]))

    async def patch_event(
        self,
        access: str,
        calendar_id: str,
        event_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        time_zone: str | None = None,
        marker: str | None = None,
    ) -> WrittenEvent:
        """PATCH only the given parts; an occurrence id makes that occurrence an
        exception, as in Outlook."""
        body: dict[str, Any] = {}
        if title is not None:
            body["subject"] = title
        if description is not None:
            body["body"] = text_body(description)
        zone = time_zone or "UTC"
        if start is not None:
            body["start"] = time_body(start, zone)
        if end is not None:
            body["end"] = time_body(end, zone)
        if marker is not None:
            body["singleValueExtendedProperties"] = marker_properties(marker)
        made = await self._call("PATCH", f"/me/events/{event_segment(event_id)}", access, body=body)
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["changeKey"]))

    async def delete_event(self, access: str, calendar_id: str, event_id: str) -> None:
        try:
            await self._call("DELETE", f"/me/events/{event_segment(event_id)}", access)
        except NotFound:
            return
