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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import httpx2

from spacecal import clock, metrics
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
    SyncReset,
    SyncWindow,
    TokenSet,
    WrittenEvent,
)
from spacecal.providers.gate import GATES
from spacecal.providers.http import classify, json_body, parse_retry_after, send, token_grant
from spacecal.providers.microsoft.consent import admin_consent_url, needs_admin_consent
from spacecal.providers.microsoft.marker import MARKER, MARKER_EXPAND, facts_of
from spacecal.providers.microsoft.wire import (
    calendar_of_resource,
    error_of,
    event_body,
    text_body,
    time_body,
    to_event,
    transaction_id_for,
)
from spacecal.providers.paths import calendar_segment, checked, event_segment, subscription_segment

SCOPES = ("openid", "email", "offline_access", "User.Read", "Calendars.ReadWrite")
CHANGE_TYPES = "created,updated,deleted"


# How many numbered names a noted calendar tries before giving up (Conflict).
_NOTE_NAME_TRIES = 5


def _for_calendar(link: str, own: str) -> bool:
    """Whether a stored delta link reads the calendar whose delta URL starts `own`:
    compared segment by segment, percent-decoded (Graph may encode an id's `=`
    either way), with no dot segment the HTTP client would collapse."""
    got = [unquote(part) for part in urlsplit(link).path.split("/")]
    want = [unquote(part) for part in urlsplit(own).path.split("/")][:-1]
    return got[: len(want)] == want and not {".", ".."} & set(got)


def _graph_time(moment: datetime) -> str:
    """UTC, whole seconds, `Z` (Graph accepts fractions too; none are needed)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MicrosoftProvider:
    """Microsoft Graph v1.0. Construct with the settings and an httpx2 client."""

    name: ProviderName = "microsoft"
    capabilities = Capabilities(
        delivery=Delivery.PUSH,
        windowed=True,
        renews_in_place=True,
        webhook_path="/webhooks/microsoft",
        lifecycle_path="/webhooks/microsoft/lifecycle",
    )

    def __init__(self, settings: Settings, client: httpx2.AsyncClient) -> None:
        if not settings.microsoft_client_id or not settings.microsoft_client_secret:
            raise ValueError(
                "Set SPACECAL_MICROSOFT_CLIENT_ID and SPACECAL_MICROSOFT_CLIENT_SECRET "
                "to offer Microsoft 365"
            )
        self._client_id = settings.microsoft_client_id
        self._client_secret = settings.microsoft_client_secret
        self._login_base = settings.microsoft_login_base
        self._tenant = settings.microsoft_tenant
        login = f"{settings.microsoft_login_base.rstrip('/')}/{settings.microsoft_tenant}"
        self._authorize_url = f"{login}/oauth2/v2.0/authorize"
        self._token_url = f"{login}/oauth2/v2.0/token"
        self._graph = settings.microsoft_graph_base.rstrip("/")
        self._page_size = settings.microsoft_page_size
        self._max_lifetime = timedelta(minutes=settings.microsoft_subscription_max_minutes)
        self._http = client
        self._concurrency = settings.microsoft_concurrent_requests

    def __repr__(self) -> str:  # the client secret stays out of logs
        return f"MicrosoftProvider(graph={self._graph!r}, client_id={self._client_id!r})"

    # -- plumbing ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        url: str,
        access: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        sync: bool = False,
    ) -> dict[str, Any]:
        full = url if url.startswith(("http://", "https://")) else self._graph + url
        async with GATES.slot("microsoft", access, concurrency=self._concurrency):
            response = await send(
                self._http,
                method,
                full,
                access=access,
                params=params,
                json_data=body,
                headers=headers,
            )
        if response.is_success:
            return json_body(response)
        code, message = error_of(response)
        metrics.provider_error("microsoft", response.status_code)
        raise classify(
            status=response.status_code,
            code=code,
            message=message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            sync=sync,
        )

    async def _pages(self, url: str, access: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            body = await self._call("GET", next_url, access)
            items.extend(body.get("value") or [])
            next_url = self._own_link(body.get("@odata.nextLink"))
        return items

    def _own_link(self, link: object) -> str | None:
        """A nextLink/deltaLink, only if it points at our Graph base: the access token
        must never be sent to another host."""
        if link is None:
            return None
        if not isinstance(link, str) or not link.startswith(self._graph + "/"):
            raise ProviderError("Graph returned a link outside the configured Graph base")
        return link

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

    # -- push -------------------------------------------------------------------------

    def _expiry(self, ttl_seconds: int) -> datetime:
        lifetime = min(timedelta(seconds=ttl_seconds), self._max_lifetime)
        return clock.now() + lifetime

    def _subscription(self, body: dict[str, Any], secret: str | None = None) -> Subscription:
        resource = str(body.get("resource") or "")
        return Subscription(
            id=str(body["id"]),
            expires_at=datetime.fromisoformat(str(body["expirationDateTime"])).astimezone(UTC),
            secret=secret if secret is not None else str(body.get("clientState") or ""),
            calendar_id=calendar_of_resource(resource),
        )

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
        """POST /subscriptions; Graph validates both URLs before answering. A second
        subscription on the same calendar answers 409 -> Conflict: list_subscriptions
        finds the leftover."""
        request: dict[str, Any] = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
            "resource": f"me/calendars/{checked(calendar_id, 'calendar id')}/events",
            "expirationDateTime": _graph_time(self._expiry(ttl_seconds)),
            "clientState": secret,
        }
        if lifecycle_url:
            request["lifecycleNotificationUrl"] = lifecycle_url
        body = await self._call("POST", "/subscriptions", access, body=request)
        made = self._subscription(body, secret)
        return Subscription(
            id=made.id, expires_at=made.expires_at, secret=secret, calendar_id=calendar_id
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
        """PATCH the expiry of the same subscription. Graph cannot change clientState,
        so the result keeps `current.secret` (not `new_secret`). Gone -> NotFound."""
        body = await self._call(
            "PATCH",
            f"/subscriptions/{subscription_segment(current.id)}",
            access,
            body={"expirationDateTime": _graph_time(self._expiry(ttl_seconds))},
        )
        renewed = self._subscription(body, current.secret)
        return Subscription(
            id=renewed.id,
            expires_at=renewed.expires_at,
            secret=current.secret,
            calendar_id=calendar_id,
        )

    async def unsubscribe(self, access: str, subscription: Subscription) -> None:
        """DELETE; already gone (expired, removed) counts as done."""
        try:
            await self._call(
                "DELETE", f"/subscriptions/{subscription_segment(subscription.id)}", access
            )
        except NotFound:
            return

    async def list_subscriptions(self, access: str) -> list[Subscription]:
        """The app's live subscriptions in this mailbox, with their calendar ids."""
        return [
            self._subscription(item)
            for item in await self._pages(self._graph + "/subscriptions", access)
        ]

    # -- sync -------------------------------------------------------------------------

    async def pull(
        self, access: str, calendar_id: str, cursor: str | None, window: SyncWindow
    ) -> PullResult:
        """A calendarView delta round: every page, instances only, times in UTC.
        Without a cursor the round starts over for `window`; with one, the deltaLink
        (which holds its own window) is followed. 410 / SyncStateNotFound /
        resyncRequired raise SyncReset."""
        headers = {
            "Prefer": f'odata.maxpagesize={self._page_size}, outlook.timezone="UTC"',
        }
        url: str | None
        params: dict[str, str] | None = None
        own = f"{self._graph}/me/calendars/{calendar_segment(calendar_id)}/calendarView/"
        if cursor:
            url = self._own_link(cursor)
            if url is None or not _for_calendar(url, own):
                # Made for another calendar (stored before CalendarId changed): following
                # it would read that calendar. Start over for this one.
                raise SyncReset("the stored delta link is for another calendar", status=0)
        else:
            url = own + "delta"
            params = {
                "startDateTime": _graph_time(window.start),
                "endDateTime": _graph_time(window.end),
            }
        found: dict[str, CalendarEvent] = {}
        etags: dict[str, str] = {}
        while url:
            body = await self._call("GET", url, access, params=params, headers=headers, sync=True)
            params = None
            for item in body.get("value") or []:
                event = to_event(item)
                if event is None:
                    continue
                found.pop(event.key, None)  # a repeat: keep the last
                found[event.key] = event
                etags.pop(event.key, None)
                if item.get("changeKey") and not event.cancelled:
                    etags[event.key] = str(item["changeKey"])
            url = self._own_link(body.get("@odata.nextLink"))
            if url is None:
                delta = self._own_link(body.get("@odata.deltaLink"))
                if delta is None:
                    raise ProviderError("Graph's last delta page carried no deltaLink", status=200)
                return PullResult(
                    events=list(found.values()), cursor=delta, full=not cursor, etags=etags
                )
        raise ProviderError("unreachable: delta loop ended without a page")

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
        made = await self._call("PATCH", f"/me/events/{event_segment(event_id)}", access, body=body)
        return WrittenEvent(event_id=str(made["id"]), etag=str(made["changeKey"]))

    async def delete_event(self, access: str, calendar_id: str, event_id: str) -> None:
        try:
            await self._call("DELETE", f"/me/events/{event_segment(event_id)}", access)
        except NotFound:
            return
