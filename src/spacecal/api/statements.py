"""The SQL the record handlers share: the select of a record (its computed columns and
scope), one record by Id, and a constraint violation put into words.

Apart from `crud.py` because the batched reads (`batching.py`) build on the same select.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.records.errors import ApiError
from spacecal.records.spec import RecordSpec


def base_select(spec: RecordSpec) -> Select[Any]:
    columns: list[Any] = list(spec.table.c)
    columns += [comp.column.label(comp.name) for comp in spec.computed]
    stmt = select(*columns).select_from(spec.source)
    if spec.scope is not None:
        stmt = stmt.where(spec.scope)
    return stmt


def integrity_error(spec: RecordSpec, exc: IntegrityError) -> ApiError:
    """Turn a constraint violation into words; the hooks catch the expected ones first."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "foreign key" in text:
        for f in spec.fields:
            if f.reference and f.column and f.column in text:
                return ApiError.field(f.name, f"no {f.reference} has this Id")
        return ApiError.field(
            None, f"This {spec.name} is still used by other records; remove those first."
        )
    if "bookings_no_overlap" in text:
        return ApiError.field("FromTime", "The resource is already booked at this time.")
    return ApiError.field(None, f"The {spec.name} conflicts with existing data.")


_by_id: dict[tuple[str, bool], Select[Any]] = {}


def _by_id_statement(spec: RecordSpec, lock: bool) -> Select[Any]:
    """Built once per record type: get-one is the hottest read."""
    key = (spec.name, lock)
    stmt = _by_id.get(key)
    if stmt is None:
        stmt = base_select(spec).where(spec.table.c.id == bindparam("record_id"))
        if lock:
            stmt = stmt.with_for_update(of=spec.table)
        _by_id[key] = stmt
    return stmt


async def fetch_row(
    conn: AsyncConnection, spec: RecordSpec, record_id: int, *, lock: bool = False
) -> Mapping[str, Any]:
    stmt = _by_id_statement(spec, lock)
    result = await conn.execute(stmt, {"record_id": record_id})
    row: Mapping[str, Any] | None = result.mappings().first()
    if row is None:
        raise ApiError(404, f"{spec.name} with Id {record_id} was not found.")
    return row
