"""`GoogleProvider`: Google OAuth 2.0 and Calendar v3 behind `CalendarProvider`.

Every URL comes from settings, so the same code talks to Google and to the emulator.
Scope `calendar.app.created`: spacecal sees only calendars it created.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2

from spacecal import metrics
from spacecal.config import Settings
from spacecal.domain import CalendarEvent
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
    PullResult,
    RemoteCalendar,
    Subscription,
    SyncWindow,
    TokenSet,
    WrittenEvent,
)
from spacecal.providers.gate import GATES
from spacecal.providers.google.batch import create_events
from spacecal.providers.google.wire import (
    error_of,
    event_body,
    event_id_for,
    facts_of,
    marker_patch,
    time_body,
    to_event,
)
from spacecal.providers.http import (
    classify,
    decode_jwt_claims,
    json_body,
    parse_retry_after,
    send,
    token_grant,
)
from spacecal.providers.pacing import take_place
from spacecal.providers.paths import calendar_segment, event_segment

SCOPES = ("openid", "email", "https://www.googleapis.com/auth/calendar.app.created")


class GoogleProvider:
    """Google Calendar v3. Construct with the settings and an httpx2 client (tests pass
    one whose transport is the emulator)."""

    name: ProviderName = "google"
    capabilities = Capabilities(
        delivery=Delivery.PUSH,
        windowed=False,
        renews_in_place=False,
        webhook_path="/webhooks/google",
        paced_calendar_creation=True,
        batch_writes=True,
    )

    def __init__(self, settings: Settings, client: httpx2.AsyncClient) -> None:
        if not settings.google_client_id or not settings.google_client_secret:
            raise ValueError(
                "Set SPACECAL_GOOGLE_CLIENT_ID and SPACECAL_GOOGLE_CLIENT_SECRET "
                "to offer Google Calendar"
            )
        self._client_id = settings.google_client_id
        self._client_secret = settings.google_client_secret
        self._api = settings.google_api_base.rstrip("/")
        self._authorize_url = settings.google_authorize_url
        self._token_url = settings.google_token_url
        self._revoke_url = settings.google_revoke_url
        self._page_size = settings.google_page_size
        self._http = client

    def __repr__(self) -> str:  # the client secret stays out of logs
        return f"GoogleProvider(api={self._api!r}, client_id={self._client_id!r})"

    # -- plumbing ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        access: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        sync: bool = False,
    ) -> dict[str, Any]:
        # The account's rate is paced in PostgreSQL for every process (sync/pacing.py).
        await take_place()
        async with GATES.slot("google", access):
            response = await send(
                self._http, method, self._api + path, access=access, params=params, json_data=body
            )
        if response.is_success:
            return json_body(response)
        reason, message = error_of(response)
        metrics.provider_error("google", response.status_code)
        raise classify(
            status=response.status_code,
            code=reason,
            message=message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            sync=sync,
        )

    # -- OAuth ------------------------------------------------------------------------

    def admin_consent_url(self, redirect_uri: str) -> str | None:
        return None  # Workspace admins allow apps in their console; no URL to hand over

    def needs_admin_consent(self, params: Mapping[str, str]) -> bool:
        return False

    def authorize_url(self, *, state: str, code_challenge: str, redirect_uri: str) -> str:
        query = {
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
        }
        sep = "&" if "?" in self._authorize_url else "?"
        return f"{self._authorize_url}{sep}{urlencode(query)}"

    async def exchange_code(
        self, *, code: str, code_verifier: str, redirect_uri: str
    ) -> tuple[TokenSet, AccountIdentity]:
        tokens, body = await token_grant(
            self._http,
            self._token_url,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("Google answered without an id_token (scope openid missing?)")
        claims = decode_jwt_claims(id_token)
        email, subject = claims.get("email"), claims.get("sub")
        if not isinstance(email, str) or not isinstance(subject, str):
            raise ProviderError("Google id_token lacks email or sub")
        return tokens, AccountIdentity(email=email.lower(), subject=subject)

    async def refresh(self, refresh_token: str) -> TokenSet:
        tokens, _ = await token_grant(
            self._http,
            self._token_url,
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
        )
        return tokens

    async def revoke(self, token: str) -> None:
        """Revoking either token ends the whole grant; an unknown token is already done."""
        response = await send(self._http, "POST", self._revoke_url, form={"token": token})
        if response.is_success or response.status_code == 400:
            return
        raise classify(status=response.status_code, code=None, message="revoke failed")

    # -- calendars --------------------------------------------------------------------

    async def create_calendar(self, access: str, name: str, time_zone: str) -> RemoteCalendar:
        body = await self._call(
            "POST", "/calendars", access, body={"summary": name, "timeZone": time_zone}
        )
        return RemoteCalendar(id=str(body["id"]), name=str(body.get("summary") or name))

    async def list_calendars(self, access: str) -> list[RemoteCalendar]:
        """The calendars this app created (all the scope lets it see), every page."""
        out: list[RemoteCalendar] = []
        page: str | None = None
        while True:
            params = {"pageToken": page} if page else None
            body = await self._call("GET", "/users/me/calendarList", access, params=params)
            for item in body.get("items") or []:
                out.append(RemoteCalendar(id=str(item["id"]), name=str(item.get("summary") or "")))
            page = body.get("nextPageToken")
            if not page:
                return out

    async def rename_calendar(self, access: str, calendar_id: str, name: str) -> None:
        await self._call(
            "PATCH", f"/calendars/{calendar_segment(calendar_id)}", access, body={"summary": name}
        )

    async def calendar_facts(
        self, access: str, calendar_id: str, account_email: str
    ) -> CalendarFacts:
        """The calendarList entry: with `calendar.app.created` the token sees only the
        calendars this app made (any other answers 404 -> NotFound), so being visible
        is the marker; the owner and writer roles and `primary` come with it."""
        path = f"/users/me/calendarList/{calendar_segment(calendar_id)}"
        return facts_of(await self._call("GET", path, access), calendar_id, account_email)

    async def mark_calendar(self, access: str, calendar_id: str) -> None:
        """Nothing to write: the token's scope is the proof (calendar_facts)."""
        calendar_segment(calendar_id)  # the same refusal as every other call

    async def set_calendar_note(
        self, access: str, calendar_id: str, *, name: str, note: CalendarNote | None
    ) -> str:
        """The note is the calendar's description (an empty one when taken away); the
        name is written with it, so a calendar renamed meanwhile shows the same name."""
        body = {"summary": name, "description": note.text if note is not None else ""}
        await self._call("PATCH", f"/calendars/{calendar_segment(calendar_id)}", access, body=body)
        return name

    async def delete_calendar(self, access: str, calendar_id: str) -> None:
        """Already gone counts as done."""
        try:
            await self._call("DELETE", f"/calendars/{calendar_segment(calendar_id)}", access)
        except NotFound:
            return

    # -- push -------------------------------------------------------------------------

    async def subscribe(
        self,
        access: str,
        calendar_id: str,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        secret: str,
        ttl_seconds: int,
    ) -> Subscription:
        """A new watch channel with a fresh random id; Google has no lifecycle URL."""
        channel_id = str(uuid.uuid4())
        body = await self._call(
            "POST",
            f"/calendars/{calendar_segment(calendar_id)}/events/watch",
            access,
            body={
                "id": channel_id,
                "type": "web_hook",
                "address": notification_url,
                "token": secret,
                "params": {"ttl": str(int(ttl_seconds))},
            },
        )
        expiration = int(body["expiration"])
        return Subscription(
            id=str(body.get("id") or channel_id),
            expires_at=datetime.fromtimestamp(expiration / 1000, tz=UTC),
            secret=secret,
            resource_id=str(body["resourceId"]),
            calendar_id=calendar_id,
        )

    async def renew(
        self,
        access: str,
        calendar_id: str,
        current: Subscription,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        new_secret: str,
        ttl_seconds: int,
    ) -> Subscription:
        """Channels cannot be extended: a new channel; the caller stops `current` after."""
        return await self.subscribe(
            access,
            calendar_id,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            secret=new_secret,
            ttl_seconds=ttl_seconds,
        )

    async def unsubscribe(self, access: str, subscription: Subscription) -> None:
        """channels/stop; a channel already stopped or expired counts as done."""
        try:
            await self._call(
                "POST",
                "/channels/stop",
                access,
                body={"id": subscription.id, "resourceId": subscription.resource_id},
            )
        except NotFound:
            return

    async def list_subscriptions(self, access: str) -> list[Subscription]:
        """Google has no API listing channels: spacecal tracks them itself."""
        return []

    # -- sync -------------------------------------------------------------------------

    async def pull(
        self, access: str, calendar_id: str, cursor: str | None, window: SyncWindow
    ) -> PullResult:
        """Every page of `events.list` (instances, deletions included); the window is
        not used (Google sync tokens carry no time range). 410 raises SyncReset."""
        base = {"singleEvents": "true", "showDeleted": "true", "maxResults": str(self._page_size)}
        if cursor:
            base["syncToken"] = cursor
        found: dict[str, CalendarEvent] = {}
        etags: dict[str, str] = {}
        page: str | None = None
        while True:
            params = {**base, "pageToken": page} if page else base
            body = await self._call(
                "GET",
                f"/calendars/{calendar_segment(calendar_id)}/events",
                access,
                params=params,
                sync=True,
            )
            for item in body.get("items") or []:
                event = to_event(item)
                if event is None:
                    continue
                found.pop(event.key, None)  # a repeat: keep the last, in its place
                found[event.key] = event
                etags.pop(event.key, None)
                if item.get("etag") and not event.cancelled:
                    etags[event.key] = str(item["etag"])
            page = body.get("nextPageToken")
            if page:
                continue
            token = body.get("nextSyncToken")
            if not token:
                raise ProviderError("Google's last page carried no nextSyncToken", status=200)
            return PullResult(
                events=list(found.values()), cursor=str(token), full=not cursor, etags=etags
            )

    # -- writes -----------------------------------------------------------------------

    def _event_path(self, calendar_id: str, event_id: str | None = None) -> str:
        # An empty event id is refused too (it would address the collection).
        tail = f"/{event_segment(event_id)}" if event_id is not None else ""
        return f"/calendars/{calendar_segment(calendar_id)}/events{tail}"

    async def create_event(self, access: str, calendar_id: str, event: EventWrite) -> WrittenEvent:
        """Insert with the id derived from the idempotency key. A repeat (409) reads
        the existing event and returns it; if the member deleted it meanwhile, the
        write restores it (PUT with a live status), so the booking is visible again."""
        event_id = event_id_for(event.idempotency_key)
        body = event_body(event)
        try:
            made = await self._call(
                "POST", self._event_path(calendar_id), access, body={"id": event_id, **body}
            )
        except Conflict:
            made = await self._call("GET", self._event_path(calendar_id, event_id), access)
            if made.get("status") == "cancelled":
                made = await self._call(
                    "PUT", self._event_path(calendar_id, event_id), access, body=body
                )
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["etag"]))

    async def create_events(
        self, access: str, calendar_id: str, events: list[EventWrite]
    ) -> list[WrittenEvent | ProviderError]:
        """Many creates in `/batch/calendar/v3` requests (batch.py): one answer per
        event; a 409 ("already there") is that event's Conflict, for `create_event`."""
        parts = urlsplit(self._api)
        batch_url = f"{parts.scheme}://{parts.netloc}/batch{parts.path}"
        return await create_events(self._http, batch_url, parts.path, access, calendar_id, events)

    async def update_event(
        self, access: str, calendar_id: str, event_id: str, event: EventWrite
    ) -> WrittenEvent:
        made = await self._call(
            "PUT", self._event_path(calendar_id, event_id), access, body=event_body(event)
        )
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["etag"]))

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
        """PATCH only the given parts; an instance id patches that one instance."""
        body: dict[str, Any] = {}
        if title is not None:
            body["summary"] = title
        if description is not None:
            body["description"] = description
        zone = time_zone or "UTC"
        if start is not None:
            body["start"] = time_body(start, zone)
        if end is not None:
            body["end"] = time_body(end, zone)
        if marker is not None:
            body["extendedProperties"] = marker_patch(marker)
        made = await self._call("PATCH", self._event_path(calendar_id, event_id), access, body=body)
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["etag"]))

    async def delete_event(self, access: str, calendar_id: str, event_id: str) -> None:
        try:
            await self._call("DELETE", self._event_path(calendar_id, event_id), access)
        except NotFound:
            return
