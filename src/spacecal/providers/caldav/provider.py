"""`CalDavProvider`: any CalDAV server (RFC 4791) behind `CalendarProvider`.

No OAuth: the member's username and app password, with the URLs discovery found, are
the account's stored secret (`CalDavCredentials.to_secret()`), and `refresh` hands
that secret back as the "access token" every method receives. No push either: the
engine polls (`Delivery.POLL`); the subscription methods are never called.

The calendar calls are here; the pull and the event writes are in `events.py`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx2
from icalendar import Calendar, Timezone

from spacecal.config import Settings
from spacecal.domain import resolve_time_zone
from spacecal.providers.base import (
    AccountIdentity,
    CalendarFacts,
    CalendarNote,
    Capabilities,
    ConsentRevoked,
    Delivery,
    NotFound,
    ProviderError,
    ProviderName,
    RemoteCalendar,
    Subscription,
    TokenSet,
)
from spacecal.providers.caldav import xml
from spacecal.providers.caldav.client import DavClient
from spacecal.providers.caldav.credentials import CalDavCredentials, CalendarCreationRefused
from spacecal.providers.caldav.events import CalDavEvents

#: A CalDAV "access token" (the stored secret) never expires; refreshing cannot help.
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
_NOT_OAUTH = "CalDAV accounts connect with a username and password, not OAuth"
# The collection names create_calendar chooses: a path segment members cannot rename.
_OWN_NAME = re.compile(r"^spacecal-[0-9a-f]{32}$")
_WRITE_PRIVILEGES = {(xml.DAV, "all"), (xml.DAV, "write"), (xml.DAV, "write-content")}


def timezone_ics(time_zone: str) -> str:
    """A VCALENDAR holding only the VTIMEZONE of `time_zone` (calendar-timezone)."""
    zone = resolve_time_zone(time_zone)
    calendar = Calendar()
    calendar.add("prodid", "-//spacecal//CalDAV//EN")
    calendar.add("version", "2.0")
    calendar.add_component(Timezone.from_tzid(zone.key))
    text: str = calendar.to_ical().decode()
    return text


class CalDavProvider(CalDavEvents):
    """CalDAV over the guarded client (`caldav_http_client`; built here when not
    given, and closed by `aclose`)."""

    name: ProviderName = "caldav"
    capabilities = Capabilities(
        delivery=Delivery.POLL,
        windowed=False,
        renews_in_place=False,
        webhook_path=None,
    )

    def __init__(self, settings: Settings, client: httpx2.AsyncClient | None = None) -> None:
        super().__init__(settings, client)

    def __repr__(self) -> str:
        return "CalDavProvider()"

    # -- no OAuth ----------------------------------------------------------------------

    def authorize_url(self, *, state: str, code_challenge: str, redirect_uri: str) -> str:
        raise ProviderError(_NOT_OAUTH)

    def admin_consent_url(self, redirect_uri: str) -> str | None:
        return None

    def needs_admin_consent(self, params: Mapping[str, str]) -> bool:
        return False

    async def exchange_code(
        self, *, code: str, code_verifier: str, redirect_uri: str
    ) -> tuple[TokenSet, AccountIdentity]:
        raise ProviderError(_NOT_OAUTH)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """The stored secret is the access token, valid until the password changes (a
        401 then raises ConsentRevoked: the member reconnects)."""
        try:
            CalDavCredentials.from_secret(refresh_token)
        except ProviderError:
            raise ConsentRevoked("the stored CalDAV credentials are not readable") from None
        return TokenSet(access_token=refresh_token, expires_at=NEVER)

    async def revoke(self, token: str) -> None:
        return None  # an app password is revoked by the member at their provider

    # -- calendars ---------------------------------------------------------------------

    async def create_calendar(self, access: str, name: str, time_zone: str) -> RemoteCalendar:
        """MKCALENDAR (else extended MKCOL) of a new collection under the home, named by
        spacecal; CalendarCreationRefused when the server allows neither."""
        dav = self._dav(access)
        home = self._home(access)
        url = urljoin(home, f"spacecal-{uuid.uuid4().hex}/")
        zone = timezone_ics(time_zone)
        final, complete = await self._make_collection(dav, url, name, zone)
        if not complete:
            # One at a time: a PROPPATCH is all-or-nothing, and Xandikos refuses both
            # schedule-calendar-transp and dead properties (docs/caldav.md).
            transparent = (xml.CALDAV, "transparent")
            await self._proppatch(access, final, {xml.SCHEDULE_TRANSP: transparent}, strict=False)
            await self._proppatch(access, final, {xml.MARKER: xml.MARKER_VALUE}, strict=False)
        return RemoteCalendar(id=final, name=name)

    async def _make_collection(
        self, dav: DavClient, url: str, name: str, zone: str
    ) -> tuple[str, bool]:
        """MKCALENDAR with every property; again with the plain ones where a property
        was refused (Xandikos answers 207 and makes nothing); then extended MKCOL.
        The collection's URL after redirects, and whether every property was set."""
        response, final = await dav.request("MKCALENDAR", url, body=xml.mkcalendar(name, zone))
        if response.status_code in (200, 201):
            return final, True
        if response.status_code in (207, 403, 409, 422, 424):
            body = xml.mkcalendar(name, zone, extras=False)
            response, final = await dav.request("MKCALENDAR", url, body=body)
        if response.status_code in (207, 403, 405, 501):
            response, final = await dav.request("MKCOL", url, body=xml.extended_mkcol(name, zone))
            if response.status_code in (207, 403, 405, 415, 501):
                raise CalendarCreationRefused(
                    f"MKCALENDAR {urlsplit(url).path}: HTTP {response.status_code}: "
                    "the server does not let this account create calendars",
                    status=response.status_code,
                )
        if response.status_code not in (200, 201):
            raise dav.fail("MKCALENDAR", final, response)
        return final, False

    async def list_calendars(self, access: str) -> list[RemoteCalendar]:
        """The calendar collections (VEVENT-capable) directly under the home."""
        dav = self._dav(access)
        home = self._home(access)
        props = [xml.RESOURCETYPE, xml.DISPLAYNAME, xml.COMPONENT_SET]
        found = await self._multistatus(
            dav, "PROPFIND", home, xml.propfind(props), depth="1", ok=(207,)
        )
        out: list[RemoteCalendar] = []
        for item in found.responses:
            if not item.has_child(xml.RESOURCETYPE, (xml.CALDAV, "calendar")):
                continue
            components = item.props.get(xml.COMPONENT_SET)
            if components is not None:
                names = {c.get("name", "").upper() for c in components}
                if names and "VEVENT" not in names:
                    continue
            url = urljoin(home, item.href)
            out.append(RemoteCalendar(id=url, name=item.text(xml.DISPLAYNAME) or ""))
        return out

    async def _proppatch(
        self,
        access: str,
        calendar_id: str,
        values: dict[xml.QName, str | xml.QName],
        *,
        strict: bool = True,
    ) -> bool:
        """Set `values` (all or nothing, as PROPPATCH is); whether the server took them.
        `strict`: a refusal raises ProviderError instead (naming the properties)."""
        dav = self._dav(access)
        url = self._calendar_url(access, calendar_id)
        response, final = await dav.request("PROPPATCH", url, body=xml.proppatch(values))
        if response.status_code in (200, 204):
            return True
        if response.status_code != 207:
            raise dav.fail("PROPPATCH", final, response)
        found = xml.multistatus(response.content).responses
        refused = [n for r in found for n, status in r.statuses.items() if status != 200]
        if not refused:
            return True
        if strict:
            names = ", ".join(sorted(local for _, local in refused))
            raise ProviderError(
                f"PROPPATCH {urlsplit(url).path}: the server refused {names}", status=207
            )
        return False

    async def rename_calendar(self, access: str, calendar_id: str, name: str) -> None:
        await self._proppatch(access, calendar_id, {xml.DISPLAYNAME: name})

    async def calendar_facts(
        self, access: str, calendar_id: str, account_email: str
    ) -> CalendarFacts:
        """Marked: spacecal's dead property (urn:spacecal:caldav created-by) set at
        creation, or, where the server refuses dead properties, the collection name
        `spacecal-<32 hex>` create_calendar chose. Owned: DAV:owner is the account's
        principal (without DAV:owner: the collection lies under the account's home).
        Can edit: the privilege set grants write (assumed when the server does not
        say). Default: never (CalDAV has no portable default-calendar flag)."""
        dav = self._dav(access)
        credentials = CalDavCredentials.from_secret(access)
        url = self._calendar_url(access, calendar_id)
        props = [xml.DISPLAYNAME, xml.RESOURCETYPE, xml.OWNER, xml.PRIVILEGE_SET, xml.MARKER]
        found = await self._multistatus(dav, "PROPFIND", url, xml.propfind(props), depth="0")
        if not found.responses:
            raise NotFound(f"PROPFIND {urlsplit(url).path}: no such calendar", status=404)
        item = found.responses[0]
        if item.status == 404 or not item.has_child(xml.RESOURCETYPE, (xml.CALDAV, "calendar")):
            raise NotFound(f"PROPFIND {urlsplit(url).path}: not a calendar", status=404)
        owners = item.hrefs(xml.OWNER)
        if owners:
            principal = xml.href_path(credentials.principal_url).rstrip("/")
            owned = any(xml.href_path(h).rstrip("/") == principal for h in owners)
        else:
            owned = xml.href_path(url).startswith(xml.href_path(credentials.home_url))
        privileges = item.props.get(xml.PRIVILEGE_SET)
        if privileges is None:
            can_edit = True
        else:
            granted = {
                (c.tag[1:].partition("}")[0], c.tag.partition("}")[2])
                for c in privileges.iter()
                if c.tag.startswith("{")
            }
            can_edit = bool(granted & _WRITE_PRIVILEGES)
        return CalendarFacts(
            name=item.text(xml.DISPLAYNAME) or "",
            marked=item.text(xml.MARKER) == xml.MARKER_VALUE or _named_by_spacecal(url),
            owned=owned,
            can_edit=can_edit,
            default=False,
        )

    async def mark_calendar(self, access: str, calendar_id: str) -> None:
        """Set spacecal's marker (a calendar the member picked explicitly)."""
        await self._proppatch(access, calendar_id, {xml.MARKER: xml.MARKER_VALUE})

    async def set_calendar_note(
        self, access: str, calendar_id: str, *, name: str, note: CalendarNote | None
    ) -> str:
        """The note is the calendar-description (emptied when taken away)."""
        values: dict[xml.QName, str | xml.QName] = {
            xml.DISPLAYNAME: name,
            xml.CALENDAR_DESCRIPTION: note.text if note else "",
        }
        await self._proppatch(access, calendar_id, values)
        return name

    async def delete_calendar(self, access: str, calendar_id: str) -> None:
        """Already gone counts as done."""
        dav = self._dav(access)
        url = self._calendar_url(access, calendar_id)
        response, final = await dav.request("DELETE", url)
        if response.status_code in (200, 202, 204, 404, 410):
            return
        raise dav.fail("DELETE", final, response)

    # -- no push -----------------------------------------------------------------------

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
        raise ProviderError("CalDAV has no push: its calendars are polled")

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
        raise ProviderError("CalDAV has no push: its calendars are polled")

    async def unsubscribe(self, access: str, subscription: Subscription) -> None:
        return None

    async def list_subscriptions(self, access: str) -> list[Subscription]:
        return []


def _named_by_spacecal(url: str) -> bool:
    """The marker on servers that refuse dead properties (Xandikos): the collection's
    own path segment, chosen by create_calendar, which a rename never changes."""
    segments = [s for s in xml.href_path(url).split("/") if s]
    return bool(segments) and _OWN_NAME.match(segments[-1]) is not None
