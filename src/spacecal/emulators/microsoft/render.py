"""Graph JSON for calendars and events.

Dates are rendered in the zone of ``Prefer: outlook.timezone`` (UTC by default), with
7 fractional digits and no offset, as Graph writes them. ``@odata.etag`` is
``W/"<changeKey>"``. Extended properties are only included when asked for with
``$expand=singleValueExtendedProperties($filter=id eq '...')`` (ids compared
case-insensitively); the delta route never includes them.
"""

from __future__ import annotations

import re
from typing import Any

from .model import Calendar, Event, Instance
from .timezones import format_date_time_time_zone, format_utc


def calendar_json(cal: Calendar, owner_name: str, owner_email: str) -> dict[str, Any]:
    return {
        "id": cal.id,
        "name": cal.name,
        "color": cal.color,
        "hexColor": cal.hex_color,
        "isDefaultCalendar": cal.is_default,
        "changeKey": cal.change_key,
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": True,
        "isRemovable": not cal.is_default,
        "owner": {"name": owner_name, "address": owner_email},
    }


_EXPAND_RE = re.compile(
    r"singleValueExtendedProperties\(\$filter=id\s+eq\s+'(?P<id>[^']*)'\)", re.IGNORECASE
)


def requested_properties(expand: str | None) -> list[str] | None:
    """Extended property ids named in ``$expand``; ``None`` when not expanded at all."""
    if not expand or "singlevalueextendedproperties" not in expand.lower():
        return None
    return [m.group("id") for m in _EXPAND_RE.finditer(expand)]


def _zone(zone: str, dt_zone_for_all_day: str, all_day: bool) -> str:
    return dt_zone_for_all_day if all_day else zone


def event_json(
    item: Event | Instance,
    zone: str,
    properties: list[str] | None = None,
) -> dict[str, Any]:
    """The Graph event resource for a stored event (series master/single) or an instance."""
    if isinstance(item, Instance):
        event = item.event
        fields = item.override.fields if item.override else {}
        start, end = item.start, item.end
        kind = item.kind
        change_key = item.change_key
        last_modified = item.override.last_modified if item.override else event.last_modified
        created = item.override.created if item.override else event.created
        item_id = item.id
    else:
        event = item
        fields = {}
        start, end = event.start, event.end
        kind = "seriesMaster" if event.recurrence is not None else "singleInstance"
        change_key = event.change_key
        last_modified, created = event.last_modified, event.created
        item_id = event.id
    # All-day events keep their own zone so they stay at midnight, as Outlook shows them.
    out_zone = _zone(zone, event.start_zone, event.is_all_day)
    body: dict[str, Any] = {
        "@odata.etag": f'W/"{change_key}"',
        "id": item_id,
        "createdDateTime": format_utc(created),
        "lastModifiedDateTime": format_utc(last_modified),
        "changeKey": change_key,
        "categories": [],
        "transactionId": event.transaction_id,
        "originalStartTimeZone": event.start_zone,
        "originalEndTimeZone": event.end_zone,
        "iCalUId": "040000008200E00074C5B7101A82E008" + event.id[-32:].encode().hex()[:48],
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": fields.get("subject", event.subject),
        "bodyPreview": str(fields.get("body", event.body).get("content", ""))[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": event.is_all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": True,
        "seriesMasterId": event.id if isinstance(item, Instance) else None,
        "showAs": fields.get("showAs", event.show_as),
        "type": kind,
        "webLink": f"https://outlook.office365.com/owa/?itemid={item_id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": fields.get("body", event.body),
        "start": format_date_time_time_zone(start, out_zone),
        "end": format_date_time_time_zone(end, out_zone),
        "location": {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [],
        "recurrence": event.recurrence if not isinstance(item, Instance) else None,
        "attendees": [],
        "organizer": {"emailAddress": {"name": "", "address": ""}},
    }
    body.update({k: v for k, v in event.extra.items()})
    body.update({k: v for k, v in fields.items() if k not in ("subject", "body", "showAs")})
    if isinstance(item, Instance) and item.original_start is not None:
        body["originalStart"] = format_utc(item.original_start)
    if not isinstance(item, Instance) and event.recurrence is not None:
        body["cancelledOccurrences"] = [
            f"OID.{event.id}.{format_utc(c)[:10]}" for c in sorted(event.cancelled)
        ]
    if properties is not None:
        wanted = {p.lower() for p in properties}
        body["singleValueExtendedProperties"] = [
            {"id": pid, "value": value}
            for pid, value in event.extended.items()
            if pid.lower() in wanted
        ]
    return body
