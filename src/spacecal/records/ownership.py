"""Fields only spacecal or a full administrator may change (`Field.owner`).

A connection's provider ids (CalendarId, SubscriptionId, ...) go into provider URLs
and decide which calendar sync reads and writes: an API user with a record's Edit
role who could point CalendarId at `..` made sync read the member's main calendar.
So, for anyone but a full administrator:

- a PROVIDER field may be sent only with the value already stored (the public
  `nexudus` client does GET-then-PUT), or left out; on create there is nothing
  stored, so it may only be left out (or null);
- a RESET_ONLY field (a sync cursor) may also be set to null, which asks for a full
  resync, and to nothing else;
- on a full-replace PUT, leaving out a PROVIDER field keeps the stored value (for
  administrators too: a client that does not know the field must not erase it);
  leaving out a cursor clears it, as a full replace always did (a resync request).

Anything else is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spacecal.records.errors import ApiError, FieldError
from spacecal.records.fields import Owner
from spacecal.records.spec import RecordSpec

_PROVIDER_MESSAGE = (
    "is set by spacecal and only a full administrator may change it: "
    "send the stored value or leave the field out"
)
_RESET_MESSAGE = (
    "may only be cleared (null, which asks for a full resync): "
    "send null, the stored value, or leave the field out"
)


def owned_required_waived(spec: RecordSpec, name: str, *, creating: bool, privileged: bool) -> bool:
    """Whether a missing owned field is fine: on update always (it is kept), on
    create unless a full administrator creates (only they may set it)."""
    field = spec.field_by_name().get(name)
    if field is None or field.owner is Owner.CLIENT:
        return False
    return not creating or not privileged


def guard_owned(
    spec: RecordSpec,
    body: Mapping[str, Any],
    values: dict[str, Any],
    old: Mapping[str, Any] | None,
    *,
    privileged: bool,
) -> None:
    """Apply the rules above to the parsed `values` (by column), in place; `old` is
    the stored row (None on create). Raises the 400 naming every refused field."""
    errors: list[FieldError] = []
    for f in spec.fields:
        if f.owner is Owner.CLIENT or f.column is None:
            continue
        if f.name not in body:
            if old is not None and f.owner is Owner.PROVIDER:
                values.pop(f.column, None)  # a full replace that omits it keeps it
            continue  # an omitted cursor is cleared, as null would (a full resync)
        if privileged:
            continue
        new = values.get(f.column)
        if old is None and new in (None, ""):
            values[f.column] = None  # nothing stored yet: nothing sent
            continue
        stored = old[f.column] if old is not None else None
        if new == stored:
            continue
        if f.owner is Owner.RESET_ONLY and new is None:
            continue
        message = _PROVIDER_MESSAGE if f.owner is Owner.PROVIDER else _RESET_MESSAGE
        errors.append(FieldError(f.name, message, body[f.name]))
    if errors:
        raise ApiError.validation(*errors)
