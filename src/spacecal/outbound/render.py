"""A trigger's row snapshot, rendered as the record the API shows for that row.

The trigger stores `to_jsonb(row)`; here the record type's own select (its columns
and computed fields, joins included) is run with the table swapped for
`jsonb_populate_record(NULL::<table>, snapshot)`, so a deleted row renders exactly
like a live one, with the types PostgreSQL itself restores, and the result goes
through `row_to_record`, the API's own shaping. No second copy of any record shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Select, bindparam, column, func, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import visitors

from spacecal.records.connections import CALDAV_CALENDARS, GOOGLE_CALENDARS, MSOFFICE_CALENDARS
from spacecal.records.definitions import BOOKINGS
from spacecal.records.rows import row_to_record
from spacecal.records.spec import RecordSpec


def spec_for(record: str, snapshot: Mapping[str, Any]) -> RecordSpec:
    """The record type of a snapshot: `Booking`, or a connection by its provider."""
    if record == "Booking":
        return BOOKINGS
    if record == "Connection":
        by_provider = {"google": GOOGLE_CALENDARS, "caldav": CALDAV_CALENDARS}
        return by_provider.get(str(snapshot.get("provider")), MSOFFICE_CALENDARS)
    raise ValueError(f"no record type {record!r}")


def snapshot_select(spec: RecordSpec) -> Select[Any]:
    """`spec`'s row select, reading its table from the `snapshot` parameter."""
    table = spec.table
    row = (
        func.jsonb_populate_record(
            literal_column(f"NULL::{table.name}"), bindparam("snapshot", type_=JSONB)
        )
        .table_valued(*[column(c.name, c.type) for c in table.c])
        .alias("snapshot_row")
    )

    def swap(element: Any, **_: Any) -> Any:
        if element is table:
            return row
        if isinstance(element, Column) and element.table is table:
            return row.c[element.name]
        return None

    def adapt(clause: Any) -> Any:
        return visitors.replacement_traverse(clause, {}, swap)

    columns: list[Any] = [row.c[c.name] for c in table.c]
    columns += [adapt(comp.column).label(comp.name) for comp in spec.computed]
    return select(*columns).select_from(adapt(spec.source))


async def render(conn: AsyncConnection, record: str, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    spec = spec_for(record, snapshot)
    result = await conn.execute(snapshot_select(spec), {"snapshot": dict(snapshot)})
    return row_to_record(spec, result.mappings().one())
