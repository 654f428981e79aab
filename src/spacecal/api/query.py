"""Reading the search query string of a record: paging, ordering, filters and ranges.

Rules (documented in docs/api.md):
- `page` ≥ 1 (default 1); `size` ≥ 1 (default 25), larger than the configured
  maximum (1000) is clamped to it and the envelope's CurrentPageSize says so.
- `orderBy` is a field name (default `Id`); `dir` is 0 (ascending) or 1 (descending).
- `<Record>_<Field>`: text fields match case-insensitively as a substring (Nexudus
  search semantics); numbers, booleans, UUIDs and references match exactly; an empty
  value is ignored, as Nexudus's own forms send them.
- `from_<Record>_<Field>` / `to_<Record>_<Field>` bound date fields, inclusive,
  `YYYY-MM-DDTHH:mm` (UTC) or full ISO 8601.
- Any other parameter is an error naming it, so a typo never silently returns
  everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, and_

from spacecal.records.errors import ApiError, FieldError
from spacecal.records.fields import Field, Kind, ParseError, parse_datetime
from spacecal.records.spec import RecordSpec

PAGING_PARAMS = {"page", "size", "orderBy", "dir"}


@dataclass(frozen=True)
class SearchQuery:
    page: int
    size: int
    order_by: str
    order_column: ColumnElement[Any]
    descending: bool
    conditions: list[ColumnElement[bool]]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError.field(name, "must be a whole number", raw) from None
    return value


def parse_search(
    spec: RecordSpec, params: dict[str, str], *, default_size: int, max_size: int
) -> SearchQuery:
    table = spec.table
    fields = spec.field_by_name()
    page = _int_param(params, "page", 1)
    if page < 1:
        raise ApiError.field("page", "must be 1 or more", params.get("page"))
    size = _int_param(params, "size", default_size)
    if size < 1:
        raise ApiError.field("size", f"must be between 1 and {max_size}", params.get("size"))
    size = min(size, max_size)
    if (page - 1) * size > 2**62:  # the row offset must fit the database's bigint
        raise ApiError.field("page", "is too large", params.get("page"))
    direction = _int_param(params, "dir", 0)
    if direction not in (0, 1):
        raise ApiError.field("dir", "must be 0 (ascending) or 1 (descending)", params.get("dir"))

    sortable: dict[str, ColumnElement[Any]] = {"Id": table.c.id}
    column: ColumnElement[Any]
    for name, column in (
        ("CreatedOn", table.c.created_on),
        ("UpdatedOn", table.c.updated_on),
        ("UniqueId", table.c.unique_id),
    ):
        sortable[name] = column
    for f in spec.fields:
        if f.column is not None and not f.secret:
            sortable[f.name] = table.c[f.column]
    for comp in spec.computed:
        sortable[comp.name] = comp.column
    order_by = params.get("orderBy") or "Id"
    if order_by not in sortable:
        raise ApiError.field(
            "orderBy", f"is not a field of {spec.name}; use one of: {', '.join(sortable)}", order_by
        )

    conditions: list[ColumnElement[bool]] = []
    errors: list[FieldError] = []
    prefix = spec.name + "_"
    filters = _filter_fields(spec, fields)
    for key, raw in params.items():
        if key in PAGING_PARAMS:
            continue
        bound = None
        name = key
        if key.startswith("from_") or key.startswith("to_"):
            bound, name = key.split("_", 1)
        if not name.startswith(prefix):
            errors.append(FieldError(key, f"is not a search parameter of {spec.name}", raw))
            continue
        suffix = name[len(prefix) :]
        target = filters.get(suffix)
        if target is None:
            errors.append(FieldError(key, f"is not a field of {spec.name}", raw))
            continue
        column, kind = target
        if raw == "":
            continue
        try:
            if bound is not None:
                if kind is not Kind.DATETIME:
                    raise ParseError("ranges apply only to date fields")
                when = parse_datetime(raw)
                conditions.append(column >= when if bound == "from" else column <= when)
            elif kind is Kind.STR:
                if "\x00" in raw:
                    raise ParseError("must not contain NUL characters")
                conditions.append(column.ilike(f"%{_escape_like(raw)}%", escape="\\"))
            elif kind is Kind.DATETIME:
                conditions.append(column == parse_datetime(raw))
            else:
                value = Field(key, kind).parse(raw)
                if kind is Kind.INT and _int4(column) and not -(2**31) <= value < 2**31:
                    raise ParseError("is out of range")
                conditions.append(column == value)
        except ParseError as exc:
            errors.append(FieldError(key, str(exc), raw))
    if errors:
        raise ApiError.validation(*errors)
    return SearchQuery(
        page=page,
        size=size,
        order_by=order_by,
        order_column=sortable[order_by],
        descending=direction == 1,
        conditions=conditions,
    )


def _filter_fields(
    spec: RecordSpec, fields: dict[str, Field]
) -> dict[str, tuple[ColumnElement[Any], Kind]]:
    table = spec.table
    result: dict[str, tuple[ColumnElement[Any], Kind]] = {
        "Id": (table.c.id, Kind.INT),
        "UniqueId": (table.c.unique_id, Kind.UUID),
        "CreatedOn": (table.c.created_on, Kind.DATETIME),
        "UpdatedOn": (table.c.updated_on, Kind.DATETIME),
        "UpdatedBy": (table.c.updated_by, Kind.STR),
        "SystemId": (table.c.system_id, Kind.STR),
    }
    for f in fields.values():
        if f.column is None or f.kind is Kind.JSON or f.secret:
            continue
        result[f.filter_name] = (table.c[f.column], f.kind)
        if f.reference:
            result[f.name] = (table.c[f.column], f.kind)
    for comp in spec.computed:
        result[comp.filter_suffix] = (comp.column, Kind.STR)
    return result


def _int4(column: ColumnElement[Any]) -> bool:
    return isinstance(column.type, Integer) and not isinstance(column.type, BigInteger)


def combined(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool] | None:
    if not conditions:
        return None
    return and_(*conditions)
