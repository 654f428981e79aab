"""events.instances: `GET /calendars/{calendarId}/events/{eventId}/instances`.

Rules chosen (Google's reference, "Events: instances"):
- answers `calendar#events` pages of the series' instances in start order, with
  `maxResults` (default 250, at most 2500) and `nextPageToken`; no `nextSyncToken`
  (incremental sync is events.list's);
- `timeMin` (inclusive bound on an instance's end), `timeMax` (exclusive bound on its
  start), `originalStart` (the instance whose original start is that time) and
  `showDeleted` (cancelled instances, default false) filter; `timeZone`,
  `maxAttendees` and `alwaysIncludeEmail` are accepted and change nothing;
- the horizon is events.list's (recurrence.py); an unknown event answers 404 notFound
  in Google's error body; an event that is not recurring answers an empty list (the
  reference does not say; clients should not ask);
- a page token belongs to its event and exact query (else 400 invalid).
"""

from __future__ import annotations

from typing import Any

from spacecal.emulators.google import errors
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.listing import one, page_size, params_key
from spacecal.emulators.google.resource import occurrences, render_instance
from spacecal.emulators.google.state import Calendar, PageState
from spacecal.emulators.google.times import (
    parse_event_time,
    parse_rfc3339,
    render_stamp,
)


def list_instances(
    ctx: GoogleContext, cal: Calendar, event_id: str, query: list[tuple[str, str]]
) -> dict[str, Any]:
    ev = cal.events.get(event_id)
    if ev is None:
        raise errors.not_found()
    size = page_size(query)
    key = f"instances/{event_id}?{params_key(query)}"
    page_token = one(query, "pageToken")
    if page_token is not None:
        state = ctx.store.page_tokens.get(page_token)
        if state is None or state.calendar_id != cal.id or state.params_key != key:
            raise errors.invalid("Invalid page token value.")
    else:
        state = PageState(cal.id, key, _items(ctx, cal, event_id, query), 0, ctx.store.seq)
    items = state.items[state.offset : state.offset + size]
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"p{state.snapshot_seq:012d}"',
        "summary": cal.summary,
        "description": cal.description or "",
        "updated": render_stamp(ctx.store.last_updated or ctx.core.clock.now()),
        "timeZone": cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [],
        "items": items,
    }
    end = state.offset + size
    if end < len(state.items):
        token = ctx.core.rng.token(40)
        ctx.store.page_tokens[token] = PageState(cal.id, key, state.items, end, state.snapshot_seq)
        body["nextPageToken"] = token
    return body


def _items(
    ctx: GoogleContext, cal: Calendar, event_id: str, query: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    ev = cal.events[event_id]
    if not ev.recurring:
        return []
    show_deleted = (one(query, "showDeleted") or "").lower() == "true"
    time_min, time_max, original = (
        one(query, name) for name in ("timeMin", "timeMax", "originalStart")
    )
    lo = parse_rfc3339(time_min, what="timeMin") if time_min else None
    hi = parse_rfc3339(time_max, what="timeMax") if time_max else None
    wanted = parse_rfc3339(original, what="originalStart") if original else None
    tz = cal.time_zone
    out = []
    for occ in occurrences(ctx, cal, ev):
        item = render_instance(ctx, cal, ev, occ.original, occ.key, occ, ev.overrides.get(occ.key))
        if item["status"] == "cancelled":
            if not show_deleted:
                continue
            start = end = occ.original
        else:
            start = parse_event_time(item["start"], "start")
            end = parse_event_time(item["end"], "end")
        if lo is not None and end.sort_key(tz) <= lo:
            continue
        if hi is not None and start.sort_key(tz) >= hi:
            continue
        if wanted is not None and occ.original.sort_key(tz) != wanted:
            continue
        out.append(item)
    return out
