"""events.list: full pulls, paging, and incremental pulls with sync tokens.

Rules chosen (providers.md and Google's "Synchronize resources efficiently"):
- `maxResults` defaults to 250; values above 2500 are lowered to 2500; below 1 → 400;
- the first page materialises the whole result and remembers the change counter of
  that moment (the snapshot); later pages are served from it, so a change made
  between two pages does not shift or repeat items; it has a later change number
  and so appears in the next incremental pull, never lost;
- only the last page carries `nextSyncToken`; every other page `nextPageToken`;
- a sync token is tied to the calendar and to the exact query parameters
  (everything except `pageToken`, `syncToken`, `maxResults` and transport parameters
  such as `fields`); using it with other parameters answers 400 invalid; so does a
  page token used with other parameters or an unknown page token;
- with `syncToken`, the parameters iCalUID, orderBy, privateExtendedProperty, q,
  sharedExtendedProperty, timeMin, timeMax, updatedMin answer 400 invalid;
  deleted events and cancelled instances are always included (showDeleted is moot);
- an unknown, expired or invalidated sync token answers 410 fullSyncRequired (the
  `sync_token_expired` fault invalidates the presented token first);
- `singleEvents=true` returns instances (see recurrence.py for the horizon); an
  incremental pull returns each instance whose series or override changed since the
  token, and instances that vanished in a series edit as cancelled instances;
  `singleEvents=false` returns series masters plus their exceptions;
- `orderBy=startTime` needs `singleEvents=true` (400 otherwise); without orderBy, a
  full pull lists events in creation order (instances by start), an incremental
  pull in change order;
- the `timeZone` query parameter is accepted but does not change rendering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spacecal.emulators.common import FaultKind
from spacecal.emulators.google import errors
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.recurrence import Occurrence
from spacecal.emulators.google.resource import (
    cancelled_instance,
    occurrences,
    render_event,
    render_instance,
    times_of,
)
from spacecal.emulators.google.state import Calendar, PageState, SyncTokenState
from spacecal.emulators.google.times import (
    EventTime,
    parse_event_time,
    parse_rfc3339,
    render_stamp,
)

DEFAULT_PAGE = 250
MAX_PAGE = 2500
FORBIDDEN_WITH_SYNC = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
NOT_IN_KEY = frozenset(
    {"pageToken", "syncToken", "maxResults", "fields", "alt", "prettyPrint", "key", "quotaUser"}
)


@dataclass
class Row:
    """One item with what filtering and ordering need."""

    item: dict[str, Any]
    start: EventTime
    end: EventTime
    seq: int
    created: datetime
    updated: datetime


def _flag(query: list[tuple[str, str]], name: str) -> bool:
    values = [v for k, v in query if k == name]
    return bool(values) and values[-1].lower() == "true"


def one(query: list[tuple[str, str]], name: str) -> str | None:
    """The last value of a query parameter (Google takes the last of repeats)."""
    values = [v for k, v in query if k == name]
    return values[-1] if values else None


def page_size(query: list[tuple[str, str]]) -> int:
    """`maxResults` checked as Google checks it, capped at MAX_PAGE."""
    raw_max = one(query, "maxResults")
    try:
        size = DEFAULT_PAGE if raw_max is None else int(raw_max)
    except ValueError as exc:
        raise errors.invalid(f"Invalid value for: maxResults: {raw_max}") from exc
    if size < 1:
        raise errors.invalid(f"Invalid value for: maxResults: {raw_max}")
    return min(size, MAX_PAGE)


def params_key(query: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(query) if k not in NOT_IN_KEY)


def list_events(
    ctx: GoogleContext, cal: Calendar, query: list[tuple[str, str]], *, account: str
) -> dict[str, Any]:
    store = ctx.store
    size = page_size(query)
    key = params_key(query)
    page_token = one(query, "pageToken")
    if page_token is not None:
        state = store.page_tokens.get(page_token)
        if state is None or state.calendar_id != cal.id or state.params_key != key:
            raise errors.invalid("Invalid page token value.")
        return _page(ctx, cal, state, size)
    single = _flag(query, "singleEvents")
    if one(query, "orderBy") == "startTime" and not single:
        raise errors.invalid("The requested ordering is not available for the particular query.")
    snapshot = store.seq
    sync_token = one(query, "syncToken")
    if sync_token is not None:
        for name in FORBIDDEN_WITH_SYNC:
            if one(query, name) is not None:
                raise errors.invalid(
                    f"The parameter {name} cannot be used together with syncToken."
                )
        token_state = store.sync_tokens.get(sync_token)
        fault = ctx.core.faults.draw(
            FaultKind.SYNC_TOKEN_EXPIRED,
            method="GET",
            path=f"/calendar/v3/calendars/{cal.id}/events",
            account=account,
        )
        if fault is not None and token_state is not None:
            token_state.valid = False
        if token_state is None or not token_state.valid or token_state.calendar_id != cal.id:
            raise errors.full_sync_required()
        if token_state.params_key != key:
            raise errors.invalid("The sync token is not valid for these request parameters.")
        rows = collect(ctx, cal, single=single, include_deleted=True, since=token_state.seq)
        rows.sort(key=lambda r: r.seq)
    else:
        include_deleted = _flag(query, "showDeleted")
        rows = collect(ctx, cal, single=single, include_deleted=include_deleted, since=None)
        rows = _filter(rows, query, cal.time_zone)
        order = one(query, "orderBy")
        if order == "startTime":
            rows.sort(key=lambda r: r.start.sort_key(cal.time_zone))
        elif order == "updated":
            rows.sort(key=lambda r: r.updated)
        elif order is not None:
            raise errors.invalid(f"Invalid value for: orderBy: {order}")
    state = PageState(cal.id, key, [r.item for r in rows], 0, snapshot)
    return _page(ctx, cal, state, size)


def _page(ctx: GoogleContext, cal: Calendar, state: PageState, size: int) -> dict[str, Any]:
    store = ctx.store
    items = state.items[state.offset : state.offset + size]
    body: dict[str, Any] = {
        "kind": "calendar#events",
        "etag": f'"p{state.snapshot_seq:012d}"',
        "summary": cal.summary,
        "description": cal.description or "",
        "updated": render_stamp(store.last_updated or ctx.core.clock.now()),
        "timeZone": cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [],
        "items": items,
    }
    end = state.offset + size
    if end < len(state.items):
        token = ctx.core.rng.token(40)
        store.page_tokens[token] = PageState(
            state.calendar_id, state.params_key, state.items, end, state.snapshot_seq
        )
        body["nextPageToken"] = token
    else:
        token = "C" + ctx.core.rng.token(40)
        store.sync_tokens[token] = SyncTokenState(cal.id, state.snapshot_seq, state.params_key)
        body["nextSyncToken"] = token
    return body


def collect(
    ctx: GoogleContext, cal: Calendar, *, single: bool, include_deleted: bool, since: int | None
) -> list[Row]:
    rows: list[Row] = []

    def changed(seq: int) -> bool:
        return since is None or seq > since

    for ev in cal.events.values():
        start, end = times_of(ev)
        if not ev.recurring:
            if changed(ev.seq) and (include_deleted or not ev.cancelled):
                rows.append(
                    Row(render_event(ctx, cal, ev), start, end, ev.seq, ev.created, ev.updated)
                )
            continue
        if not single and changed(ev.seq) and (include_deleted or not ev.cancelled):
            rows.append(Row(render_event(ctx, cal, ev), start, end, ev.seq, ev.created, ev.updated))
        occs: dict[str, Occurrence] = {o.key: o for o in occurrences(ctx, cal, ev)}
        keys = list(occs) if single else [k for k in occs if k in ev.overrides]
        for key in keys:
            occ = occs[key]
            override = ev.overrides.get(key)
            # A series write touches every instance; an override only its own.
            if override is None:
                seq = ev.seq
            else:
                seq = max(ev.seq, override.seq) if single else override.seq
            if not changed(seq):
                continue
            item = render_instance(ctx, cal, ev, occ.original, key, occ, override)
            if item["status"] == "cancelled" and not include_deleted:
                continue
            o_start, o_end = occ.start, occ.end
            if item["status"] != "cancelled" and override is not None:
                o_start = parse_event_time(item["start"], "start")
                o_end = parse_event_time(item["end"], "end")
            updated = max(ev.updated, override.updated) if override else ev.updated
            rows.append(Row(item, o_start, o_end, seq, ev.created, updated))
        for key, (original, seq, etag) in ev.removed.items():
            if changed(seq) and include_deleted:
                item = cancelled_instance(ev, original, key, etag, cal.time_zone)
                rows.append(Row(item, original, original, seq, ev.created, ev.updated))
    return rows


def _filter(rows: list[Row], query: list[tuple[str, str]], tz: str) -> list[Row]:
    time_min = one(query, "timeMin")
    time_max = one(query, "timeMax")
    updated_min = one(query, "updatedMin")
    text = (one(query, "q") or "").lower()
    ical = one(query, "iCalUID")
    private = [v for k, v in query if k == "privateExtendedProperty"]
    shared = [v for k, v in query if k == "sharedExtendedProperty"]
    lo = parse_rfc3339(time_min, what="timeMin") if time_min else None
    hi = parse_rfc3339(time_max, what="timeMax") if time_max else None
    up = parse_rfc3339(updated_min, what="updatedMin") if updated_min else None
    out = []
    for row in rows:
        item = row.item
        if lo is not None and row.end.sort_key(tz) <= lo:
            continue
        if hi is not None and row.start.sort_key(tz) >= hi:
            continue
        if up is not None and row.updated < up:
            continue
        if ical is not None and item.get("iCalUID") != ical:
            continue
        if text and not any(
            text in str(item.get(f, "")).lower() for f in ("summary", "description", "location")
        ):
            continue
        props = item.get("extendedProperties") or {}
        if not _props_match(props.get("private") or {}, private):
            continue
        if not _props_match(props.get("shared") or {}, shared):
            continue
        out.append(row)
    return out


def _props_match(props: dict[str, str], wanted: list[str]) -> bool:
    for pair in wanted:
        name, _, value = pair.partition("=")
        if props.get(name) != value:
            return False
    return True


def expire_tokens(ctx: GoogleContext, calendar_id: str | None = None) -> int:
    """Invalidate sync tokens (all, or one calendar's): their next use answers 410."""
    count = 0
    for state in ctx.store.sync_tokens.values():
        if state.valid and (calendar_id is None or state.calendar_id == calendar_id):
            state.valid = False
            count += 1
    return count
