"""The event-link writes of a commit (sync/reconcile/commit.py), each one statement for a whole
plan: links inserted or updated from arrays, dropped, or their refusals forgotten."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.domain import EventText, MarkRefused

_DROP_LINKS = text(
    "DELETE FROM event_links WHERE connection_id = :cid AND event_key = ANY(CAST(:keys AS text[]))"
)
_FORGET_UNBOOKED = text(
    "DELETE FROM event_links WHERE connection_id = :cid AND event_key = ANY(CAST(:keys AS text[]))"
    " AND booking_id IS NULL"
)
_FORGET_REFUSALS = text(
    "UPDATE event_links SET refused_start = NULL, refused_end = NULL,"
    " refused_all_day = false, refused_reason = NULL"
    " WHERE connection_id = :cid AND event_key = ANY(CAST(:keys AS text[]))"
)
# Link columns a plan writes, with their SQL types (for the arrays below).
_LINK_TYPES = {
    "booking_id": "bigint",
    "booking_version": "integer",
    "series_key": "text",
    "pending_write": "jsonb",
    "pending_since": "timestamptz",
    "refused_start": "timestamptz",
    "refused_end": "timestamptz",
    "refused_all_day": "boolean",
    "refused_reason": "text",
    "marker": "text",
    "written_etag": "text",
}


@functools.lru_cache(maxsize=32)
def _upsert_sql(columns: tuple[str, ...]) -> TextClause:
    """Insert-or-update of many links, as arrays: the statement text depends only on
    the columns written, so it stays small and PostgreSQL can keep it prepared."""
    given = ", ".join(f"CAST(:{c} AS {_LINK_TYPES[c]}[])" for c in columns)
    into = ["connection_id", "event_key", "updated_at", *columns]
    values = [":cid", "r.event_key", ":now", *(f"r.{c}" for c in columns)]
    if "refused_all_day" not in columns:  # NOT NULL; a new link is not refused
        into.append("refused_all_day")
        values.append("false")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in ("updated_at", *columns))
    # Column names come only from _LINK_TYPES (a KeyError above otherwise), never input.
    return text(
        f"INSERT INTO event_links ({', '.join(into)}) SELECT {', '.join(values)}"  # noqa: S608
        f" FROM unnest(CAST(:event_key AS text[]), {given}) AS r(event_key, {', '.join(columns)})"
        f" ON CONFLICT ON CONSTRAINT event_links_unique_event DO UPDATE SET {updates}"
    )


async def upsert_links(
    conn: AsyncConnection,
    connection_id: int,
    now: datetime,
    rows: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Insert or update the links of `rows` ((event key, values); every row with the
    same columns) in one statement; a later row for the same key wins, as it would
    one statement at a time."""
    if not rows:
        return
    merged = {key: values for key, values in rows}
    columns = tuple(next(iter(merged.values())))
    params: dict[str, Any] = {"cid": connection_id, "now": now, "event_key": list(merged)}
    for c in columns:
        column = [values[c] for values in merged.values()]
        if _LINK_TYPES[c] == "jsonb":
            column = [None if v is None else json.dumps(v) for v in column]
        params[c] = column
    await conn.execute(_upsert_sql(columns), params)


def refused_values(start: datetime, end: datetime, all_day: bool, message: str) -> dict[str, Any]:
    return {
        "refused_start": start,
        "refused_end": end,
        "refused_all_day": all_day,
        "refused_reason": message,
    }


@dataclass(frozen=True)
class Shown:
    """An event's text as the pull read it, and the version (etag) it read."""

    text: EventText
    etag: str | None


Row = tuple[str, dict[str, Any]]


def mark_rows(
    marks: Sequence[MarkRefused], shown: Mapping[str, Shown], now: datetime
) -> tuple[list[Row], list[Row]]:
    """The link rows of refusals: those owing their mark's write, and those whose
    event shows that very mark already, in a version spacecal did not write last:
    another instance's write changed the series' one resource (CalDAV), or a write's
    answer was lost. Writing it again would change the resource once more and start
    the next round, so their links adopt the version read instead."""
    owed: list[Row] = []
    already: list[Row] = []
    for mark in marks:
        t = mark.refused_time
        refused = refused_values(t.start, t.end, t.all_day, mark.refusal.message)
        seen = shown.get(mark.event_key)
        if seen is not None and seen.etag and seen.text == mark.text:
            values = {"pending_write": None, "pending_since": None, "written_etag": seen.etag}
            already.append((mark.event_key, {**values, **refused}))
            continue
        text = {"title": mark.text.title, "description": mark.text.description}
        owe = {"pending_write": {"kind": "mark", **text}, "pending_since": now}
        owed.append((mark.event_key, {**owe, **refused}))
    return owed, already


NOT_REFUSED: dict[str, Any] = {
    "refused_start": None,
    "refused_end": None,
    "refused_all_day": False,
    "refused_reason": None,
}


async def drop_links(conn: AsyncConnection, connection_id: int, keys: list[str]) -> None:
    await conn.execute(_DROP_LINKS, {"cid": connection_id, "keys": keys})


async def forget(conn: AsyncConnection, connection_id: int, keys: Iterable[str]) -> None:
    keys = list(keys)
    if not keys:
        return
    await conn.execute(_FORGET_UNBOOKED, {"cid": connection_id, "keys": keys})
    await conn.execute(_FORGET_REFUSALS, {"cid": connection_id, "keys": keys})
