"""The pull and the event writes of `CalDavProvider`, and the plumbing they share.

Pull: a sync-collection REPORT (RFC 6578) from the stored token, every page (a 507
on the collection itself says "truncated, ask again from the new token"), then
calendar-multiget for the changed hrefs in batches. Writes are PUTs with
If-None-Match (create) or If-Match (change), so nothing is overwritten blind.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from urllib.parse import quote, urljoin, urlsplit

import httpx2

from spacecal import clock
from spacecal.config import Settings
from spacecal.domain import CalendarEvent, EventStatus
from spacecal.providers.base import (
    EventWrite,
    NotFound,
    ProviderError,
    PullResult,
    SyncReset,
    SyncWindow,
    WrittenEvent,
)
from spacecal.providers.caldav import compose, ical, xml
from spacecal.providers.caldav.client import DavClient, caldav_http_client
from spacecal.providers.caldav.credentials import CalDavCredentials, EditConflict
from spacecal.providers.paths import UnsafeId

#: Sync pages read per pull; the rest waits for the next poll (RFC 6578: each page's
#: token covers every change reported up to it, so carrying it on loses nothing).
_MAX_PAGES = 50
_ICS = {"Content-Type": "text/calendar; charset=utf-8"}
_RESET = {(xml.DAV, "valid-sync-token")}


def quote_path(path: str) -> str:
    return quote(path, safe="/@:+,;=!$&'()*~")


class CalDavEvents:
    """What the CalDAV adapter does with events; `CalDavProvider` adds calendars."""

    def __init__(self, settings: Settings, client: httpx2.AsyncClient | None) -> None:
        self._settings = settings
        self._owns_client = client is None
        self._http = client if client is not None else caldav_http_client(settings)
        self._zones: dict[str, tzinfo] = {}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    # -- plumbing ----------------------------------------------------------------------

    def _dav(self, access: str) -> DavClient:
        return DavClient(
            self._http,
            CalDavCredentials.from_secret(access),
            allow_private=self._settings.allow_private_targets,
            max_redirects=self._settings.caldav_max_redirects,
            deadline=self._settings.caldav_timeout_seconds * 3,
        )

    def _home(self, access: str) -> str:
        return CalDavCredentials.from_secret(access).home_url

    def _calendar_url(self, access: str, calendar_id: str) -> str:
        """The collection URL of a CalendarId, refused unless the account's credentials
        may go there (a CalendarId naming another host is never sent a password)."""
        url = calendar_id if calendar_id.endswith("/") else calendar_id + "/"
        if not self._dav(access).scope.allows(url):
            # Permanent, like any stored id spacecal must not use (an administrator
            # corrects the CalendarId): retrying cannot help.
            raise UnsafeId("CalendarId", "not on the account's CalDAV server")
        return url

    def _event_url(self, access: str, calendar_id: str, path: str) -> str:
        calendar = self._calendar_url(access, calendar_id)
        if not path.startswith(xml.href_path(calendar)) or "/../" in path:
            raise NotFound(f"{path}: not an event of this calendar", status=404)
        return urljoin(calendar, quote_path(path))

    async def _multistatus(
        self,
        dav: DavClient,
        method: str,
        url: str,
        body: bytes,
        *,
        depth: str | None = None,
        ok: tuple[int, ...] = (207,),
    ) -> xml.Multistatus:
        response, final = await dav.request(method, url, body=body, depth=depth)
        if response.status_code not in ok:
            raise dav.fail(method, final, response)
        return xml.multistatus(response.content)

    async def _zone(self, dav: DavClient, url: str) -> tzinfo:
        """The calendar's calendar-timezone (floating times), read once per process."""
        zone = self._zones.get(url)
        if zone is None:
            found = await self._multistatus(
                dav, "PROPFIND", url, xml.propfind([xml.CALENDAR_TIMEZONE]), depth="0"
            )
            text = found.responses[0].text(xml.CALENDAR_TIMEZONE) if found.responses else None
            zone = (ical.calendar_zone(text) if text else None) or UTC
            self._zones[url] = zone
        return zone

    # -- pull --------------------------------------------------------------------------

    async def _sync_report(
        self, dav: DavClient, url: str, cursor: str | None
    ) -> tuple[dict[str, str], set[str], str, bool]:
        """Changed hrefs (path -> etag), deleted hrefs, the new token, and whether
        paging stopped early (the page cap or `caldav_max_changes_per_pull`)."""
        own = xml.href_path(url).rstrip("/")
        changed: dict[str, str] = {}
        deleted: set[str] = set()
        token = cursor or ""
        for _ in range(_MAX_PAGES):
            response, final = await dav.request("REPORT", url, body=xml.sync_collection(token))
            # RFC 6578: 403/409 with DAV:valid-sync-token; Xandikos answers 412.
            status = response.status_code
            if cursor and (
                status == 412
                or (status in (403, 409) and xml.error_conditions(response.content) & _RESET)
            ):
                raise SyncReset(f"REPORT {urlsplit(url).path}: invalid sync token", status=status)
            if not token and status in (403, 405, 501):
                # No sync-collection here: list every member's etag (a full pull each
                # time; the empty cursor stored means "full again").
                return await self._listing(dav, url), set(), "", False
            if response.status_code != 207:
                raise dav.fail("REPORT", final, response)
            found = xml.multistatus(response.content)
            truncated = False
            for item in found.responses:
                path = xml.href_path(item.href)
                if path.rstrip("/") == own:  # the collection itself (iCloud lists it)
                    truncated = truncated or item.status == 507
                    continue
                if item.status == 404:
                    deleted.add(path)
                    changed.pop(path, None)
                elif item.status in (None, 200) and not path.endswith("/"):
                    changed[path] = item.text(xml.GETETAG) or ""
                    deleted.discard(path)
            if not found.sync_token:
                raise ProviderError(f"REPORT {urlsplit(url).path}: no sync-token", status=207)
            moved = found.sync_token != token
            token = found.sync_token
            if not (truncated and moved):
                return changed, deleted, token, False
            if len(changed) + len(deleted) >= self._settings.caldav_max_changes_per_pull:
                break
        return changed, deleted, token, True

    async def _listing(self, dav: DavClient, url: str) -> dict[str, str]:
        own = xml.href_path(url).rstrip("/")
        found = await self._multistatus(
            dav, "PROPFIND", url, xml.propfind([xml.GETETAG]), depth="1"
        )
        return {
            xml.href_path(r.href): r.text(xml.GETETAG) or ""
            for r in found.responses
            if xml.href_path(r.href).rstrip("/") != own and not r.href.endswith("/")
        }

    async def pull(
        self, access: str, calendar_id: str, cursor: str | None, window: SyncWindow
    ) -> PullResult:
        """Every change since `cursor` (None: everything). An invalid token (403/409
        with DAV:valid-sync-token) raises SyncReset; deleted resources come back as
        cancelled events keyed by their href (every instance of a series goes)."""
        dav = self._dav(access)
        url = self._calendar_url(access, calendar_id)
        changed, deleted, token, cut = await self._sync_report(dav, url, cursor)
        events: list[CalendarEvent] = [CalendarEvent(p, EventStatus.CANCELLED) for p in deleted]
        etags: dict[str, str] = {}
        whole: set[str] = set()  # series read whole: see PullResult.whole_series
        hrefs = list(changed)
        batch = self._settings.caldav_multiget_batch
        for first in range(0, len(hrefs), batch):
            body = xml.calendar_multiget([quote_path(h) for h in hrefs[first : first + batch]])
            found = await self._multistatus(dav, "REPORT", url, body, depth="1")
            for item in found.responses:
                path = xml.href_path(item.href)
                if item.status == 404:
                    events.append(CalendarEvent(path, EventStatus.CANCELLED))
                    continue
                data = item.text(xml.CALENDAR_DATA)
                if not data:
                    continue
                parsed, complete = await self._parse(dav, url, path, data, window)
                if complete:
                    whole.update(e.series_id for e in parsed if e.series_id is not None)
                etag = item.text(xml.GETETAG) or changed.get(path, "")
                for event in parsed:
                    events.append(event)
                    if etag and not event.cancelled:
                        etags[event.key] = etag
        return PullResult(
            events=events,
            cursor=token,
            full=not cursor and not cut,  # a cut pull cannot say what is missing
            etags=etags,
            whole_series=frozenset(whole),
        )

    async def _parse(
        self, dav: DavClient, url: str, path: str, data: str, window: SyncWindow
    ) -> tuple[list[CalendarEvent], bool]:
        """The resource's events, and whether a series among them is complete in the
        window (only then may its missing linked instances be taken as deleted)."""
        zone: tzinfo = UTC
        if _has_floating(data):
            zone = await self._zone(dav, url)
        try:
            return ical.read_resource(
                path,
                data,
                zone=zone,
                window=window,
                max_instances=self._settings.caldav_max_instances,
                max_components=self._settings.caldav_max_components,
            )
        except (ical.BadCalendarData, ValueError, RecursionError):
            return [], False  # not an event spacecal can read: it books nothing

    # -- writes ------------------------------------------------------------------------

    async def _read(self, dav: DavClient, url: str) -> tuple[bytes, str | None]:
        response, final = await dav.request("GET", url)
        if response.status_code != 200:
            raise dav.fail("GET", final, response)
        return response.content, response.headers.get("etag")

    async def _put(
        self, dav: DavClient, url: str, data: bytes, *, etag: str | None, create: bool
    ) -> str:
        """PUT with a precondition; the new etag (read back when the server gives
        none). 412 raises EditConflict."""
        headers = dict(_ICS)
        if create:
            headers["If-None-Match"] = "*"
        elif etag:
            headers["If-Match"] = etag
        response, final = await dav.request("PUT", url, body=data, headers=headers)
        if response.status_code == 412:
            raise EditConflict(f"PUT {urlsplit(url).path}: HTTP 412", status=412)
        if response.status_code not in (200, 201, 204):
            raise dav.fail("PUT", final, response)
        new = response.headers.get("etag")
        if new:
            return new
        _, new = await self._read(dav, url)
        return new or ""

    async def create_event(self, access: str, calendar_id: str, event: EventWrite) -> WrittenEvent:
        """PUT `<calendar>/<idempotency key>.ics` with If-None-Match: a repeat answers
        412 and the event already there is returned (idempotent)."""
        dav = self._dav(access)
        calendar = self._calendar_url(access, calendar_id)
        url = urljoin(calendar, f"{event.idempotency_key}.ics")
        path = xml.href_path(url)
        data = compose.event_ics(event, uid=event.idempotency_key, stamp=clock.now())
        try:
            etag = await self._put(dav, url, data, etag=None, create=True)
        except EditConflict:
            # Already there: an earlier PUT of ours whose answer was lost. The member
            # may have changed it since (they saw it: chaos seed 246 moved a block);
            # only our very event counts as our write, else the next pull would take
            # the member's change for our echo and never put the block back.
            current, found = await self._read(dav, url)
            etag = (found or "") if _same_event(data, current) else ""
        return WrittenEvent(event_id=path, etag=etag)

    async def update_event(
        self, access: str, calendar_id: str, event_id: str, event: EventWrite
    ) -> WrittenEvent:
        """The whole event anew, over the version just read (If-Match)."""
        dav = self._dav(access)
        path, rid = ical.split_key(event_id)
        if rid is not None:  # one instance: its override, never the whole series
            return await self.patch_event(
                access,
                calendar_id,
                event_id,
                title=event.title,
                description=event.description,
                start=event.start,
                end=event.end,
                time_zone=event.time_zone,
            )
        url = self._event_url(access, calendar_id, path)
        current, etag = await self._read(dav, url)
        uid = _uid(current) or event.idempotency_key
        data = compose.event_ics(event, uid=uid, stamp=clock.now())
        return WrittenEvent(event_id, await self._put(dav, url, data, etag=etag, create=False))

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
        """Read, change the given parts (of one instance for an instance key), PUT
        with If-Match; one retry after a 412, then EditConflict. `marker` is not
        used: CalDAV events never carried a booking id to scrub."""
        dav = self._dav(access)
        path, rid = ical.split_key(event_id)
        url = self._event_url(access, calendar_id, path)
        zone = await self._zone(dav, self._calendar_url(access, calendar_id))
        for attempt in range(2):
            current, etag = await self._read(dav, url)
            try:
                data = compose.patched_ics(
                    current,
                    rid,
                    zone=zone,
                    stamp=clock.now(),
                    title=title,
                    description=description,
                    start=start,
                    end=end,
                    time_zone=time_zone,
                )
            except ical.BadCalendarData as exc:
                raise NotFound(f"{path}: {exc}", status=404) from None
            try:
                return WrittenEvent(
                    event_id, await self._put(dav, url, data, etag=etag, create=False)
                )
            except EditConflict:
                if attempt:
                    raise
        raise ProviderError("unreachable")

    async def delete_event(self, access: str, calendar_id: str, event_id: str) -> None:
        """DELETE the resource (404 counts as done); an instance key gets an EXDATE."""
        dav = self._dav(access)
        path, rid = ical.split_key(event_id)
        url = self._event_url(access, calendar_id, path)
        if rid is None:
            response, final = await dav.request("DELETE", url)
            if response.status_code not in (200, 202, 204, 404, 410):
                raise dav.fail("DELETE", final, response)
            return
        zone = await self._zone(dav, self._calendar_url(access, calendar_id))
        try:
            current, etag = await self._read(dav, url)
        except NotFound:
            return
        data = compose.without_instance(current, rid, zone=zone, stamp=clock.now())
        await self._put(dav, url, data, etag=etag, create=False)


def _has_floating(data: str) -> bool:
    """Whether any DTSTART/DTEND/RECURRENCE-ID/EXDATE/RDATE is a floating date-time or
    names a TZID (which may be unknown): then the calendar's zone is needed."""
    for line in data.splitlines():
        name, _, value = line.partition(":")
        head = name.split(";")[0].upper()
        if head in ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE"):
            if "TZID=" in name.upper():
                return True
            if "T" in value and not value.strip().endswith("Z"):
                return True
    return False


_COMPARED = ("DTSTART", "DTEND", "DURATION", "SUMMARY", "DESCRIPTION", "TRANSP", "STATUS")


def _same_event(ours: bytes, theirs: bytes) -> bool:
    """Whether the server's resource holds the event spacecal wrote (its times and
    texts; stamps and the server's own additions aside)."""
    try:
        mine = list(ical.read_calendar(ours).walk("VEVENT"))
        found = list(ical.read_calendar(theirs).walk("VEVENT"))
    except ical.BadCalendarData:
        return False
    if len(mine) != 1 or len(found) != 1:
        return False
    return all(
        (name in mine[0]) == (name in found[0])
        and (name not in mine[0] or mine[0].decoded(name) == found[0].decoded(name))
        for name in _COMPARED
    )


def _uid(data: bytes) -> str | None:
    try:
        calendar = ical.read_calendar(data)
    except ical.BadCalendarData:
        return None
    for component in calendar.walk("VEVENT"):
        if "UID" in component:
            return str(component["UID"])
    return None
