"""Single-value extended properties on calendars, as Graph documents them.

Create with ``singleValueExtendedProperties`` in the ``POST /me/calendars`` body or
add them with ``PATCH``; read them back only when asked with
``$expand=singleValueExtendedProperties($filter=id eq '...')`` (ids compared
case-insensitively); find calendars by one with ``$filter=singleValueExtendedProperties/
Any(ep: ep/id eq '...' and ep/value eq '...')``. Any other ``$filter`` on calendars
answers 400, as an unsupported query does on Graph.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GraphError, bad_request
from .model import Calendar
from .render import requested_properties

_ANY_RE = re.compile(
    r"singleValueExtendedProperties/Any\(\s*(?P<v>\w+)\s*:\s*(?P=v)/id\s+eq\s+'(?P<id>[^']*)'"
    r"(?:\s+and\s+(?P=v)/value\s+eq\s+'(?P<value>[^']*)')?\s*\)",
    re.IGNORECASE,
)


def take_properties(cal: Calendar, payload: dict[str, Any]) -> None:
    """Store the properties a create or patch body carries (same id: replaced)."""
    raw = payload.get("singleValueExtendedProperties")
    if raw is None:
        return
    if not isinstance(raw, list):
        raise bad_request("singleValueExtendedProperties must be an array.")
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise bad_request("Each extended property needs an id and a value.")
        for known in [k for k in cal.extended if k.lower() == item["id"].lower()]:
            del cal.extended[known]
        cal.extended[item["id"]] = str(item.get("value", ""))


def show_properties(body: dict[str, Any], cal: Calendar, expand: str | None) -> dict[str, Any]:
    """`body` with the properties `$expand` asks for (none when not expanded)."""
    wanted = requested_properties(expand)
    if wanted is not None:
        lowered = {w.lower() for w in wanted}
        body["singleValueExtendedProperties"] = [
            {"id": pid, "value": value}
            for pid, value in cal.extended.items()
            if pid.lower() in lowered
        ]
    return body


def filtered(calendars: list[Calendar], filter_text: str | None) -> list[Calendar]:
    """The calendars a `$filter` on an extended property selects."""
    if not filter_text:
        return calendars
    match = _ANY_RE.fullmatch(filter_text.strip())
    if match is None:
        raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter is not supported.")
    pid, value = match.group("id").lower(), match.group("value")
    return [
        c
        for c in calendars
        if any(k.lower() == pid and (value is None or v == value) for k, v in c.extended.items())
    ]
