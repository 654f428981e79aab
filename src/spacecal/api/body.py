"""Reading a record request: the body (JSON or form), its field values, the query
parameters and the `id=[...]` list.

Kept apart from the route handlers (`crud.py`) so that what a client may send, and the
400s that say what was wrong with it, are read in one place, without the SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request

from spacecal import jsontext
from spacecal.crypto import TokenCipher
from spacecal.records.errors import ApiError, FieldError
from spacecal.records.fields import Field, Kind, ParseError, parse_int
from spacecal.records.ownership import owned_required_waived
from spacecal.records.spec import COMMON_FIELDS, RecordSpec

_TYPES = ("application/json", "", "application/x-www-form-urlencoded", "multipart/form-data")
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89abcdefABCDEF]")
MAX_IDS = 1000
_SYSTEM_ID = Field("SystemId", Kind.STR, max_length=200)


async def read_body(request: Request) -> dict[str, Any]:
    """A JSON object or a form; anything else is a 400 that says what was expected."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _TYPES and not content_type.endswith("+json"):
        # Refused before the body is read (its size is limited as it streams: web/limits.py).
        raise ApiError(
            415,
            "Send the record as application/json or application/x-www-form-urlencoded.",
        )
    raw = await request.body()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form(max_files=0)  # a record has no files: none is spooled
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = jsontext.loads(raw)
    except jsontext.NotANumber as exc:
        raise ApiError.field(None, f"The request body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError among them
        raise ApiError.field(None, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError.field(None, "The request body must be a JSON object holding one record.")
    if _SURROGATE_ESCAPE.search(raw):
        # "\ud800" alone is valid JSON but not Unicode text: the database cannot store it.
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError.field(
                None, "The request body holds a lone UTF-16 surrogate (\\ud800-\\udfff)."
            ) from None
    return body


def parse_values(
    spec: RecordSpec, body: Mapping[str, Any], *, creating: bool, privileged: bool = True
) -> dict[str, Any]:
    """Column values from a full record body (create or full-replace update).
    `privileged`: a full administrator (owned fields, records/ownership.py)."""
    fields = spec.field_by_name()
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key in body:
        if (
            key not in fields
            and key not in COMMON_FIELDS
            and key not in {c.name for c in spec.computed}
        ):
            errors.append(FieldError(key, f"is not a field of {spec.name}", body[key]))
    for f in spec.fields:
        if f.read_only or f.column is None:
            continue
        present = f.name in body
        raw = body.get(f.name)
        shown = None if f.secret else raw  # an error never echoes a secret
        if not present or raw is None or (isinstance(raw, str) and not raw.strip()):
            if f.required and not owned_required_waived(
                spec, f.name, creating=creating, privileged=privileged
            ):
                errors.append(FieldError(f.name, "is a required field", shown))
                continue
            if not present and not creating:
                # Full replace: an absent optional field is cleared (or defaulted).
                pass
        try:
            value = f.parse(raw) if present else None
        except ParseError as exc:
            errors.append(FieldError(f.name, str(exc), shown))
            continue
        if value is None and not f.nullable:
            column_default = spec.table.c[f.column].default
            if column_default is not None and getattr(column_default, "is_scalar", False):
                value = getattr(column_default, "arg")  # noqa: B009 (untyped in stubs)
            else:
                errors.append(FieldError(f.name, "is a required field", shown))
                continue
        values[f.column] = value
    if errors:
        raise ApiError.validation(*errors)
    return values


def seal_secrets(
    spec: RecordSpec,
    values: dict[str, Any],
    cipher: TokenCipher,
    *,
    creating: bool,
) -> None:
    """Encrypt write-only fields in `values`. A client cannot read a secret back, so
    a full-replace PUT that leaves it out (or sends null) keeps the stored one; an
    empty string clears it."""
    for f in spec.fields:
        if not f.secret or f.column is None:
            continue
        value = values.get(f.column)
        if value is None:
            if creating:
                values[f.column] = None
            else:
                values.pop(f.column, None)
        elif value == "":
            values[f.column] = None
        else:
            values[f.column] = cipher.encrypt(str(value))


def system_id(body: Mapping[str, Any]) -> str | None:
    raw = body.get("SystemId")
    if raw is None or raw == "":
        return None
    try:
        return str(_SYSTEM_ID.parse(raw))
    except ParseError as exc:
        raise ApiError.field("SystemId", str(exc), raw) from None


def single_params(request: Request) -> dict[str, str]:
    """The query parameters, each given once: a repeated one (`page=1&page=2`) is a 400
    naming it, not a silent choice of one of its values."""
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in params:
            raise ApiError.field(name, "is given more than once; send it once", value)
        params[name] = value
    return params


def parse_id_list(raw: str) -> Sequence[int]:
    """`[1,2,3]` (Nexudus) or `1,2,3`."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ApiError.field("id", "must list at least one Id, e.g. id=[1,2,3]", raw)
    if len(parts) > MAX_IDS:
        raise ApiError.field("id", f"may list at most {MAX_IDS} Ids", raw[:50])
    ids: list[int] = []
    for part in parts:
        try:
            ids.append(parse_int(part))
        except ParseError:
            raise ApiError.field(
                "id", "must be a list of whole numbers, e.g. id=[1,2,3]", raw
            ) from None
    return ids
