"""Every write to events goes through here, from the API and from the member alike.

Rules chosen:
- a client-chosen `id` must be base32hex (a-v, 0-9), 5 to 1024 characters (else 400
  invalid); an id already used in the calendar — even by a deleted event — answers
  409 duplicate;
- PATCH merges objects key by key (a JSON null removes the key) and replaces arrays
  and `start`/`end` whole; PUT replaces every writable field;
- `etag` and `updated` change on every write (`updated` strictly increases even with
  a frozen clock); `sequence` increases when start, end or recurrence change;
- PATCH/PUT on a deleted event answers 410 deleted unless it sets `status` to
  confirmed or tentative, which restores it; DELETE on a deleted event answers 410;
- `If-Match` with another etag answers 412 conditionNotMet;
- editing a series' start/end/recurrence drops the instances that no longer exist
  (they come back as cancelled in incremental pulls) together with their overrides;
  overrides of instances that still exist are kept;
- writing to an instance id (`<seriesId>_<key>`) creates or updates that instance's
  override; deleting it cancels just that instance.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from spacecal.emulators.google import errors, recurrence
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.resource import (
    READ_ONLY,
    find_instance,
    occurrences,
    render_event,
    render_instance,
)
from spacecal.emulators.google.state import Calendar, Event, Override
from spacecal.emulators.google.times import EventTime, parse_event_time, render_time

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
STATUSES = ("confirmed", "tentative", "cancelled")


class Stamp:
    """The (seq, updated, etag) of one write."""

    def __init__(self, ctx: GoogleContext) -> None:
        store = ctx.store
        self.seq = store.next_seq()
        now = ctx.core.clock.now()
        last = store.last_updated
        if last is not None and now <= last:
            now = last + timedelta(milliseconds=1)
        store.last_updated = now
        self.updated = now
        self.etag = f'"{int(now.timestamp() * 1000)}{self.seq:06d}"'


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and key not in ("start", "end"):
            # Maps merge key by key (extendedProperties.private); a null removes a key,
            # also in a map the event did not have yet.
            base_map = out.get(key)
            out[key] = merge(base_map if isinstance(base_map, dict) else {}, value)
        else:
            out[key] = value
    return out


def writable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in READ_ONLY}


def normalise(cal: Calendar, body: dict[str, Any]) -> tuple[dict[str, Any], EventTime, EventTime]:
    """Validate an event body (times, status, recurrence); return it with times rendered."""
    start = parse_event_time(body.get("start"), "start")
    end = parse_event_time(body.get("end"), "end")
    if start.all_day != end.all_day:
        raise errors.invalid("Start and end times must either both be date or both be dateTime.")
    if start.sort_key(cal.time_zone) > end.sort_key(cal.time_zone) or (
        start.all_day and start.day == end.day
    ):
        raise errors.bad_request("timeRangeEmpty", "The specified time range is empty.")
    status = body.get("status", "confirmed")
    if status not in STATUSES:
        raise errors.invalid(f"Invalid value for: status: {status}")
    props = body.get("extendedProperties")
    if props is not None:
        ok = isinstance(props, dict) and all(
            k in ("private", "shared")
            and isinstance(v, dict)
            and all(isinstance(x, str) and isinstance(y, str) for x, y in v.items())
            for k, v in props.items()
        )
        if not ok:
            raise errors.invalid("Invalid value for: extendedProperties")
    out = dict(body)
    out["start"] = render_time(start, cal.time_zone)
    out["end"] = render_time(end, cal.time_zone)
    if body.get("recurrence"):
        out["recurrence"] = recurrence.validate(body["recurrence"])
        if not start.all_day and start.tz is None:
            raise errors.bad_request("invalid", "Missing time zone definition for start time.")
        # Parse the rules now, so a bad RRULE fails the write, not a later list.
        recurrence.expand(
            start,
            end,
            out["recurrence"],
            default_tz=cal.time_zone,
            horizon_end=start.sort_key(cal.time_zone),
        )
    else:
        out.pop("recurrence", None)
    out["status"] = status
    return out, start, end


def insert_event(ctx: GoogleContext, cal: Calendar, body: dict[str, Any]) -> Event:
    event_id = body.get("id")
    if event_id is not None:
        if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
            raise errors.invalid("Invalid resource id value.")
        if event_id in cal.events:
            raise errors.duplicate()
    else:
        event_id = ctx.core.rng.base32hex(26)
    fields, _, _ = normalise(cal, writable(body))
    if fields.get("status") == "cancelled":
        raise errors.invalid("Invalid value for: status: cancelled")
    stamp = Stamp(ctx)
    ical = body.get("iCalUID") or f"{event_id}@google.com"
    ev = Event(
        id=event_id,
        body=fields,
        created=stamp.updated,
        updated=stamp.updated,
        etag=stamp.etag,
        seq=stamp.seq,
        ical_uid=str(ical),
    )
    cal.events[event_id] = ev
    ctx.on_change(cal)
    return ev


def get_event(ctx: GoogleContext, cal: Calendar, event_id: str) -> dict[str, Any]:
    ev = cal.events.get(event_id)
    if ev is not None:
        return render_event(ctx, cal, ev)
    found = find_instance(ctx, cal, event_id)
    if found is None:
        raise errors.not_found()
    series, key, original, occ = found
    return render_instance(ctx, cal, series, original, key, occ, series.overrides.get(key))


def _check_etag(current: str, if_match: str | None) -> None:
    if if_match is not None and if_match.strip() not in ("*", current):
        raise errors.condition_not_met()


def write_event(
    ctx: GoogleContext,
    cal: Calendar,
    event_id: str,
    body: dict[str, Any],
    *,
    replace: bool,
    if_match: str | None = None,
) -> dict[str, Any]:
    """PATCH (replace=False) or PUT (replace=True) an event or one instance."""
    ev = cal.events.get(event_id)
    if ev is None:
        return _write_instance(ctx, cal, event_id, body, replace=replace, if_match=if_match)
    _check_etag(ev.etag, if_match)
    incoming = writable(body)
    if ev.cancelled and incoming.get("status") not in ("confirmed", "tentative"):
        raise errors.deleted()
    if incoming.get("status") == "cancelled":
        delete_event(ctx, cal, event_id)
        return render_event(ctx, cal, ev)
    base = {} if replace else ev.body
    if ev.cancelled and not replace:
        base = dict(ev.body)
    fields, _, _ = normalise(cal, merge(base, incoming))
    old_keys = _series_keys(ctx, cal, ev)
    timing_changed = any(fields.get(k) != ev.body.get(k) for k in ("start", "end", "recurrence"))
    stamp = Stamp(ctx)
    ev.body = fields
    ev.cancelled = False
    ev.seq, ev.updated, ev.etag = stamp.seq, stamp.updated, stamp.etag
    if timing_changed:
        ev.sequence += 1
        _drop_vanished(ctx, cal, ev, old_keys, stamp.seq, stamp.etag)
    ctx.on_change(cal)
    return render_event(ctx, cal, ev)


def _series_keys(ctx: GoogleContext, cal: Calendar, ev: Event) -> dict[str, EventTime]:
    if not ev.recurring or ev.cancelled:
        return {}
    return {o.key: o.original for o in occurrences(ctx, cal, ev)}


def _drop_vanished(
    ctx: GoogleContext,
    cal: Calendar,
    ev: Event,
    old_keys: dict[str, EventTime],
    seq: int,
    etag: str,
) -> None:
    new_keys = _series_keys(ctx, cal, ev)
    for key, original in old_keys.items():
        if key not in new_keys:
            ev.removed[key] = (original, seq, etag)
            ev.overrides.pop(key, None)
    for key in new_keys:
        ev.removed.pop(key, None)
    for key in [k for k in ev.overrides if k not in new_keys]:
        override = ev.overrides.pop(key)
        ev.removed[key] = (override.original, seq, etag)


def _write_instance(
    ctx: GoogleContext,
    cal: Calendar,
    event_id: str,
    body: dict[str, Any],
    *,
    replace: bool,
    if_match: str | None,
) -> dict[str, Any]:
    found = find_instance(ctx, cal, event_id)
    if found is None:
        raise errors.not_found()
    series, key, original, occ = found
    if series.cancelled:
        raise errors.deleted()
    current = render_instance(ctx, cal, series, original, key, occ, series.overrides.get(key))
    _check_etag(current["etag"], if_match)
    incoming = writable(body)
    override = series.overrides.get(key)
    restoring = incoming.get("status") in ("confirmed", "tentative")
    if override is not None and override.cancelled and not restoring:
        raise errors.deleted()
    if incoming.get("status") == "cancelled":
        return cancel_instance(ctx, cal, series, key, original)
    base_fields = {} if replace or override is None else override.fields
    merged = merge(base_fields, incoming)
    # Validate the instance as a whole (series fields overlaid with the override).
    effective = merge(writable(current), merged)
    effective.pop("recurrence", None)
    checked, _, _ = normalise(cal, effective)
    for key_name in ("start", "end"):
        if key_name in merged:
            merged[key_name] = checked[key_name]
    stamp = Stamp(ctx)
    series.overrides[key] = Override(
        key=key,
        original=original,
        fields=merged,
        cancelled=False,
        seq=stamp.seq,
        updated=stamp.updated,
        etag=stamp.etag,
    )
    ctx.on_change(cal)
    return render_instance(ctx, cal, series, original, key, occ, series.overrides[key])


def cancel_instance(
    ctx: GoogleContext, cal: Calendar, series: Event, key: str, original: EventTime
) -> dict[str, Any]:
    stamp = Stamp(ctx)
    previous = series.overrides.get(key)
    series.overrides[key] = Override(
        key=key,
        original=original,
        fields=previous.fields if previous else {},
        cancelled=True,
        seq=stamp.seq,
        updated=stamp.updated,
        etag=stamp.etag,
    )
    ctx.on_change(cal)
    return render_instance(ctx, cal, series, original, key, None, series.overrides[key])


def delete_event(
    ctx: GoogleContext, cal: Calendar, event_id: str, *, if_match: str | None = None
) -> None:
    ev = cal.events.get(event_id)
    if ev is None:
        found = find_instance(ctx, cal, event_id)
        if found is None:
            raise errors.not_found()
        series, key, original, occ = found
        override = series.overrides.get(key)
        if series.cancelled or (override is not None and override.cancelled):
            raise errors.deleted()
        current = render_instance(ctx, cal, series, original, key, occ, override)
        _check_etag(current["etag"], if_match)
        cancel_instance(ctx, cal, series, key, original)
        return
    if ev.cancelled:
        raise errors.deleted()
    _check_etag(ev.etag, if_match)
    stamp = Stamp(ctx)
    ev.cancelled = True
    ev.seq, ev.updated, ev.etag = stamp.seq, stamp.updated, stamp.etag
    ctx.on_change(cal)


def new_calendar_id(ctx: GoogleContext) -> str:
    raw = uuid.UUID(int=ctx.core.rng.getrandbits(128)).hex
    return f"c_{raw}{ctx.core.rng.hex(32)}@group.calendar.google.com"
