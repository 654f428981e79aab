"""Rendering events and instances as Google's JSON, and resolving instance ids.

Deleted events render as `{kind, etag, id, status: "cancelled"}` only, and cancelled
instances as `{kind, etag, id, status, recurringEventId, originalStartTime}`: the
minimum Google guarantees (providers.md), so clients cannot come to rely on more.
An instance carries the series' fields, its own start/end, and the fields of its
override (if it was moved or edited); its etag/updated are those of whichever of
series and override was written last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.recurrence import HORIZON, Occurrence, expand, unbounded
from spacecal.emulators.google.state import Calendar, Event, Override
from spacecal.emulators.google.times import (
    EventTime,
    parse_event_time,
    render_stamp,
    render_time,
)

READ_ONLY = frozenset(
    {
        "kind",
        "etag",
        "id",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "organizer",
        "recurringEventId",
        "originalStartTime",
        "iCalUID",
        "sequence",
    }
)


def times_of(ev: Event) -> tuple[EventTime, EventTime]:
    return parse_event_time(ev.body["start"], "start"), parse_event_time(ev.body["end"], "end")


def occurrences(ctx: GoogleContext, cal: Calendar, ev: Event) -> list[Occurrence]:
    start, end = times_of(ev)
    rules = list(ev.body["recurrence"])
    # The horizon only cuts series that never end; bounded ones expand to their end.
    horizon = ctx.core.clock.now() + HORIZON if unbounded(rules) else None
    return expand(start, end, rules, default_tz=cal.time_zone, horizon_end=horizon)


def render_event(ctx: GoogleContext, cal: Calendar, ev: Event) -> dict[str, Any]:
    if ev.cancelled:
        return {"kind": "calendar#event", "etag": ev.etag, "id": ev.id, "status": "cancelled"}
    out: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": ev.etag,
        "id": ev.id,
        "status": ev.body.get("status", "confirmed"),
        "htmlLink": f"{ctx.base_url}/calendar/event?eid={ev.id}",
        "created": render_stamp(ev.created),
        "updated": render_stamp(ev.updated),
    }
    for key, value in ev.body.items():
        if key not in out and key not in READ_ONLY:
            out[key] = value
    out["creator"] = {"email": cal.owner}
    out["organizer"] = (
        {"email": cal.owner, "self": True}
        if cal.primary
        else {"email": cal.id, "displayName": cal.summary, "self": True}
    )
    out["iCalUID"] = ev.ical_uid
    out["sequence"] = ev.sequence
    out.setdefault("reminders", {"useDefault": True})
    out.setdefault("eventType", "default")
    return out


def cancelled_instance(
    ev: Event, original: EventTime, key: str, etag: str, tz: str
) -> dict[str, Any]:
    return {
        "kind": "calendar#event",
        "etag": etag,
        "id": f"{ev.id}_{key}",
        "status": "cancelled",
        "recurringEventId": ev.id,
        "originalStartTime": render_time(original, tz),
    }


def render_instance(
    ctx: GoogleContext,
    cal: Calendar,
    ev: Event,
    original: EventTime,
    key: str,
    occ: Occurrence | None,
    override: Override | None,
) -> dict[str, Any]:
    """An instance as the API shows it (`occ` None: only an override is known)."""
    newer = override is not None and override.seq > ev.seq
    etag = override.etag if override is not None and newer else ev.etag
    if ev.cancelled or (override is not None and override.cancelled):
        return cancelled_instance(ev, original, key, etag, cal.time_zone)
    out = render_event(ctx, cal, ev)
    out.pop("recurrence", None)
    out["id"] = f"{ev.id}_{key}"
    out["recurringEventId"] = ev.id
    out["originalStartTime"] = render_time(original, cal.time_zone)
    if occ is not None:
        out["start"] = render_time(occ.start, cal.time_zone)
        out["end"] = render_time(occ.end, cal.time_zone)
    if override is not None:
        out.update(override.fields)
        if newer:
            out["etag"] = override.etag
            out["updated"] = render_stamp(override.updated)
    return out


def instance_start(rendered: dict[str, Any]) -> EventTime:
    return parse_event_time(rendered["start"], "start")


def find_instance(
    ctx: GoogleContext, cal: Calendar, event_id: str
) -> tuple[Event, str, EventTime, Occurrence | None] | None:
    """Resolve `<seriesId>_<key>` to (series, key, original start, occurrence)."""
    series_id, sep, key = event_id.rpartition("_")
    if not sep:
        return None
    ev = cal.events.get(series_id)
    if ev is None or not ev.recurring:
        return None
    if key in ev.overrides:
        occ = next((o for o in occurrences(ctx, cal, ev) if o.key == key), None)
        return ev, key, ev.overrides[key].original, occ
    for occ in occurrences(ctx, cal, ev):
        if occ.key == key:
            return ev, key, occ.original, occ
    return None


def sort_time(rendered: dict[str, Any], default_tz: str) -> datetime:
    return instance_start(rendered).sort_key(default_tz)
