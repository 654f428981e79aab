"""A member acting in their CalDAV calendar the way a calendar app does: plain PUT and
DELETE of iCalendar resources straight to the server (never through spacecal nor the
fault proxy), and reading the calendar back with a calendar-query REPORT. The same
face as tests/support/member.py's members, so the chaos scenario drives all three alike.

Event ids are what spacecal keys CalDAV events by (providers/caldav/ical.py): the
resource's href path, and `<href path>#<RECURRENCE-ID in UTC>` for an instance of a
series. Moving an instance writes an override (RECURRENCE-ID); deleting one adds an
EXDATE, as apps do. Reads use the `icalendar` library and dateutil's RRULE expansion,
never spacecal's own parser.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx2
from dateutil.rrule import rrulestr
from icalendar import Calendar, Event
from tests.support.caldav_servers import CalDavServer
from tests.support.member import Seen

_QUERY = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    b"<D:prop><D:getetag/><C:calendar-data/></D:prop>"
    b'<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/>'
    b"</C:comp-filter></C:filter></C:calendar-query>"
)
_NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
_RID = "%Y%m%dT%H%M%SZ"


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return None  # all-day: the scenario makes none
    return None


def _span(event: Any) -> tuple[datetime, datetime] | None:
    start = _utc(event.decoded("DTSTART"))
    if start is None:
        return None
    if "DTEND" in event:
        end = _utc(event.decoded("DTEND"))
    elif "DURATION" in event:
        end = start + event.decoded("DURATION")
    else:
        end = start
    return (start, end) if end is not None else None


def _set_span(event: Any, start: datetime, end: datetime) -> None:
    for name in ("DTSTART", "DTEND", "DURATION"):
        if name in event:
            del event[name]
    event.add("DTSTART", start.astimezone(UTC))
    event.add("DTEND", end.astimezone(UTC))
    seq = int(event.get("SEQUENCE", 0)) + 1
    if "SEQUENCE" in event:
        del event["SEQUENCE"]
    event.add("SEQUENCE", seq)


@dataclass
class CalDavMember:
    """`calendar_id` is spacecal's URL of the calendar (through the proxy); `server`
    is the real server's base URL, where the member's app sends its requests."""

    http: httpx2.Client
    email: str
    calendar_id: str
    server: str
    provider: str = "caldav"

    @property
    def path(self) -> str:
        return urlsplit(self.calendar_id).path

    def _url(self, href: str) -> str:
        return urljoin(self.server, href)

    def _put(self, href: str, cal: Calendar, etag: str | None) -> None:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        headers.update({"If-Match": etag} if etag else {"If-None-Match": "*"})
        answer = self.http.put(self._url(href), content=cal.to_ical(), headers=headers)
        answer.raise_for_status()

    def _get(self, href: str) -> tuple[Calendar, str | None]:
        answer = self.http.get(self._url(href))
        answer.raise_for_status()
        return Calendar.from_ical(answer.content), answer.headers.get("etag")

    def _new(self, title: str, start: datetime, end: datetime, rule: str | None) -> str:
        uid = f"app-{uuid.uuid4().hex}"
        cal = Calendar()
        cal.add("PRODID", "-//member app//EN")
        cal.add("VERSION", "2.0")
        event = Event()
        event.add("UID", uid)
        event.add("DTSTAMP", start.astimezone(UTC))
        event.add("SUMMARY", title)
        event.add("DTSTART", start.astimezone(UTC))
        event.add("DTEND", end.astimezone(UTC))
        if rule:
            event.add("RRULE", rule)
        cal.add_component(event)
        href = f"{self.path}{uid}.ics"
        self._put(href, cal, None)
        return href

    def create(self, title: str, start: datetime, end: datetime) -> str:
        return self._new(title, start, end, None)

    def series(self, title: str, start: datetime, end: datetime, days: int) -> str:
        return self._new(title, start, end, {"FREQ": "DAILY", "COUNT": days})

    def weekly(self, title: str, start: datetime, end: datetime, weeks: int) -> str:
        return self._new(title, start, end, {"FREQ": "WEEKLY", "COUNT": weeks})

    def move(self, event_id: str, start: datetime, end: datetime) -> None:
        href, _, rid = event_id.partition("#")
        cal, etag = self._get(href)
        events = list(cal.walk("VEVENT"))
        if not rid:
            for event in events:
                _set_span(event, start, end)
        else:
            target = next((e for e in events if self._rid_of(e) == rid), None)
            if target is None:
                master = next(e for e in events if "RECURRENCE-ID" not in e)
                target = Event()
                for name, value in master.property_items(recursive=False):
                    if name not in ("BEGIN", "END", "RRULE", "EXDATE", "RDATE", "SEQUENCE"):
                        target.add(name, value)
                target.add("RECURRENCE-ID", datetime.strptime(rid, _RID).replace(tzinfo=UTC))
                cal.add_component(target)
            _set_span(target, start, end)
        self._put(href, cal, etag)

    def move_instance(
        self, series_id: str, original: datetime, start: datetime, end: datetime
    ) -> None:
        self.move(f"{series_id}#{original.astimezone(UTC):{_RID}}", start, end)

    def retitle(self, event_id: str, title: str) -> None:
        href, _, _ = event_id.partition("#")
        cal, etag = self._get(href)
        for event in cal.walk("VEVENT"):
            if "SUMMARY" in event:
                del event["SUMMARY"]
            event.add("SUMMARY", title)
        self._put(href, cal, etag)

    def delete(self, event_id: str) -> None:
        href, _, rid = event_id.partition("#")
        if not rid:
            self.http.delete(self._url(href)).raise_for_status()
            return
        cal, etag = self._get(href)
        moment = datetime.strptime(rid, _RID).replace(tzinfo=UTC)
        for event in list(cal.subcomponents):
            if isinstance(event, Event) and self._rid_of(event) == rid:
                cal.subcomponents.remove(event)
        master = next(e for e in cal.walk("VEVENT") if "RECURRENCE-ID" not in e)
        master.add("EXDATE", moment)
        self._put(href, cal, etag)

    def cancel_instance(self, series_id: str, original: datetime) -> None:
        self.delete(f"{series_id}#{original.astimezone(UTC):{_RID}}")

    @staticmethod
    def _rid_of(event: Any) -> str | None:
        if "RECURRENCE-ID" not in event:
            return None
        moment = _utc(event.decoded("RECURRENCE-ID"))
        return None if moment is None else f"{moment:{_RID}}"

    # -- reading -------------------------------------------------------------------

    def resources(self) -> dict[str, bytes]:
        """Every event resource of the calendar: href path -> its iCalendar text."""
        answer = self.http.request(
            "REPORT",
            self._url(self.path),
            content=_QUERY,
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        if answer.status_code != 207:  # Xandikos 0.4 answers 500: list, then GET each
            return self._one_by_one()
        out: dict[str, bytes] = {}
        for item in ET.fromstring(answer.content).findall("D:response", _NS):
            href = item.findtext("D:href", "", _NS)
            data = item.findtext(".//C:calendar-data", "", _NS)
            if href and data:
                out[unquote(urlsplit(href).path)] = data.encode()
        return out

    def _one_by_one(self) -> dict[str, bytes]:
        answer = self.http.request(
            "PROPFIND",
            self._url(self.path),
            content=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            b"</D:prop></D:propfind>",
            headers={"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
        )
        assert answer.status_code == 207, answer.text
        out: dict[str, bytes] = {}
        for item in ET.fromstring(answer.content).findall("D:response", _NS):
            path = unquote(urlsplit(item.findtext("D:href", "", _NS)).path)
            if path.endswith(".ics"):
                got = self.http.get(self._url(path))
                if got.status_code == 200:
                    out[path] = got.content
        return out

    def events(self) -> list[Seen]:
        seen: list[Seen] = []
        for href, data in self.resources().items():
            seen.extend(_expand(href, Calendar.from_ical(data)))
        return sorted(seen, key=lambda s: (s.start, s.id))


def _seen(key: str, event: Any, span: tuple[datetime, datetime]) -> Seen:
    return Seen(
        key, str(event.get("SUMMARY", "")), str(event.get("DESCRIPTION", "")), span[0], span[1]
    )


def _expand(href: str, cal: Calendar) -> list[Seen]:
    events = list(cal.walk("VEVENT"))
    master = next((e for e in events if "RECURRENCE-ID" not in e), None)
    overrides = {rid: e for e in events if (rid := CalDavMember._rid_of(e)) is not None}
    if master is None or "RRULE" not in master:
        span = _span(master) if master is not None else None
        return [_seen(href, master, span)] if span is not None else []
    span = _span(master)
    if span is None:
        return []
    start, end = span
    rule = master["RRULE"].to_ical().decode()
    excluded: set[str] = set()
    exdates = master.get("EXDATE")  # one property, or a list of them when repeated
    for value in exdates if isinstance(exdates, list) else [exdates] if exdates else []:
        for moment in value.dts:
            utc = _utc(moment.dt)
            if utc is not None:
                excluded.add(f"{utc:{_RID}}")
    out = []
    for moment in rrulestr(rule, dtstart=start, cache=False):
        if moment > start + timedelta(days=400):
            break
        rid = f"{moment.astimezone(UTC):{_RID}}"
        if rid in excluded:
            continue
        override = overrides.get(rid)
        if override is not None:
            o_span = _span(override)
            if o_span is not None and override.get("STATUS", "") != "CANCELLED":
                out.append(_seen(f"{href}#{rid}", override, o_span))
            continue
        out.append(_seen(f"{href}#{rid}", master, (moment, moment + (end - start))))
    return out


def empty_home(server: CalDavServer, app: httpx2.Client) -> None:
    """Delete every calendar under the user's home on `server`: a seed must not find
    (and adopt) a calendar an earlier seed made under the same name."""
    home = f"{server.url}{server.username}/"
    answer = app.request("PROPFIND", home, headers={"Depth": "1"}, content=b"")
    if answer.status_code != 207:
        return
    for href in re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", answer.text):
        path = urlsplit(href).path
        if path.rstrip("/") != urlsplit(home).path.rstrip("/") and path.endswith("/"):
            app.delete(f"{server.url.rstrip('/')}{path}")
