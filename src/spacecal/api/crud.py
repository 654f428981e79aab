"""The six operations of every Nexudus-shaped record, served from a RecordSpec.

Reads go through SQLAlchemy Core on one pooled connection and answer with a prebuilt
JSON response (no response-model validation on the hot path); the OpenAPI schema is
still declared per record (see `openapi.py`).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Select, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock, jsontext
from spacecal.api.query import combined, parse_search
from spacecal.crypto import TokenCipher
from spacecal.db.engine import in_transaction
from spacecal.records.errors import ApiError, FieldError
from spacecal.records.fields import Field, Kind, ParseError, parse_int, parse_path_id
from spacecal.records.ownership import guard_owned, owned_required_waived
from spacecal.records.rows import row_to_record
from spacecal.records.spec import COMMON_FIELDS, RecordSpec
from spacecal.web.auth import require
from spacecal.web.envelopes import action_envelope
from spacecal.web.services import Services, principal_for, services_of

_TYPES = ("application/json", "", "application/x-www-form-urlencoded", "multipart/form-data")
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89abcdefABCDEF]")
MAX_IDS = 1000
_SYSTEM_ID = Field("SystemId", Kind.STR, max_length=200)


def base_select(spec: RecordSpec) -> Select[Any]:
    columns: list[Any] = list(spec.table.c)
    columns += [comp.column.label(comp.name) for comp in spec.computed]
    stmt = select(*columns).select_from(spec.source)
    if spec.scope is not None:
        stmt = stmt.where(spec.scope)
    return stmt


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


def build_router(spec: RecordSpec) -> APIRouter:
    router = APIRouter(tags=[spec.name])
    paths = [spec.base_path] + [f"{spec.prefix}/{a}" for a in spec.aliases]

    async def search(request: Request) -> Response:
        state = services_of(request)
        principal = await principal_for(request)
        params = single_params(request)
        if "id" in params:
            require(principal, spec.role("Read"))
            return await get_many(state, params)
        require(principal, spec.role("List"))
        settings = state.settings
        query = parse_search(
            spec, params, default_size=settings.page_size_default, max_size=settings.page_size_max
        )
        where = combined(query.conditions)
        count_stmt = select(func.count()).select_from(spec.source)
        if spec.scope is not None:
            count_stmt = count_stmt.where(spec.scope)
        stmt = base_select(spec)
        if where is not None:
            count_stmt = count_stmt.where(where)
            stmt = stmt.where(where)
        order = query.order_column.desc() if query.descending else query.order_column.asc()
        tiebreak = spec.table.c.id.desc() if query.descending else spec.table.c.id.asc()
        stmt = stmt.order_by(order, tiebreak).limit(query.size)
        stmt = stmt.offset((query.page - 1) * query.size)
        async with state.db.reads.connect() as conn:
            total = int(await conn.scalar(count_stmt) or 0)
            rows = (await conn.execute(stmt)).mappings().all()
        records = [row_to_record(spec, r) for r in rows]
        first = (query.page - 1) * query.size + 1 if records else 0
        pages = math.ceil(total / query.size) if total else 0
        return JSONResponse(
            {
                "Records": records,
                "CurrentPage": query.page,
                "CurrentPageSize": query.size,
                "CurrentOrderField": query.order_by,
                "CurrentSortDirection": 1 if query.descending else 0,
                "FirstItem": first,
                "LastItem": first + len(records) - 1 if records else 0,
                "TotalItems": total,
                "TotalPages": pages,
                "HasNextPage": query.page < pages,
                "HasPreviousPage": query.page > 1,
            }
        )

    async def get_many(state: Services, params: dict[str, str]) -> Response:
        if set(params) != {"id"}:
            extra = sorted(set(params) - {"id"})
            raise ApiError.field(extra[0], "cannot be combined with id=[…]", params[extra[0]])
        ids = parse_id_list(params["id"])
        stmt = base_select(spec).where(spec.table.c.id.in_(ids)).order_by(spec.table.c.id)
        async with state.db.reads.connect() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return JSONResponse([row_to_record(spec, r) for r in rows])

    async def get_one(request: Request, id: str) -> Response:
        state = services_of(request)
        principal = await principal_for(request)
        require(principal, spec.role("Read"))
        record_id = parse_path_id(id)
        async with state.db.reads.connect() as conn:
            row = await fetch_row(conn, spec, record_id)
        return JSONResponse(row_to_record(spec, row))

    async def create(request: Request) -> Response:
        state = services_of(request)
        principal = await principal_for(request)
        require(principal, spec.role("Create"))
        body = await read_body(request)
        values = parse_values(spec, body, creating=True, privileged=principal.full_admin)
        guard_owned(spec, body, values, None, privileged=principal.full_admin)
        seal_secrets(spec, values, state.db.cipher, creating=True)
        now = clock.now()
        values.update(spec.fixed_values)
        values.update(
            unique_id=uuid.uuid4(),
            created_on=now,
            updated_on=now,
            updated_by=principal.email,
            system_id=_system_id(body),
        )

        async def write(conn: AsyncConnection) -> int:
            row_values = dict(values)
            if spec.before_write is not None:
                await spec.before_write(conn, row_values, None)
            try:
                new_id = await conn.scalar(
                    insert(spec.table).values(**row_values).returning(spec.table.c.id)
                )
            except IntegrityError as exc:
                raise integrity_error(spec, exc) from None
            assert new_id is not None
            if spec.after_write is not None:
                await spec.after_write(conn, new_id)
            return int(new_id)

        new_id = await in_transaction(state.db.engine, write)
        return JSONResponse(
            action_envelope(f"{spec.name} was successfully created.", new_id, now, principal.email)
        )

    async def update_record(request: Request) -> Response:
        state = services_of(request)
        principal = await principal_for(request)
        require(principal, spec.role("Edit"))
        body = await read_body(request)
        if body.get("Id") in (None, ""):
            raise ApiError.field("Id", "is a required field: PUT replaces the record with this Id")
        try:
            record_id = parse_int(body["Id"])
        except ParseError as exc:
            raise ApiError.field("Id", str(exc), body["Id"]) from None
        values = parse_values(spec, body, creating=False, privileged=principal.full_admin)
        seal_secrets(spec, values, state.db.cipher, creating=False)
        now = clock.now()
        values.update(updated_on=now, updated_by=principal.email)
        if "SystemId" in body:
            values["system_id"] = _system_id(body)

        async def write_update(conn: AsyncConnection) -> None:
            row_values = dict(values)
            old = await fetch_row(conn, spec, record_id, lock=True)
            guard_owned(spec, body, row_values, old, privileged=principal.full_admin)
            if spec.before_write is not None:
                await spec.before_write(conn, row_values, old)
            try:
                await conn.execute(
                    update(spec.table).where(spec.table.c.id == record_id).values(**row_values)
                )
            except IntegrityError as exc:
                raise integrity_error(spec, exc) from None
            if spec.after_write is not None:
                await spec.after_write(conn, record_id)

        await in_transaction(state.db.engine, write_update)
        return JSONResponse(
            action_envelope(
                f"{spec.name} was successfully updated.", record_id, now, principal.email
            )
        )

    async def delete_record(request: Request, id: str) -> Response:
        state = services_of(request)
        principal = await principal_for(request)
        require(principal, spec.role("Delete"))
        record_id = parse_path_id(id)
        now = clock.now()

        async def remove(conn: AsyncConnection) -> None:
            old = await fetch_row(conn, spec, record_id, lock=True)
            handled = (
                await spec.on_delete(conn, old, principal.email)
                if spec.on_delete is not None
                else False
            )
            if not handled:
                try:
                    await conn.execute(delete(spec.table).where(spec.table.c.id == record_id))
                except IntegrityError as exc:
                    raise integrity_error(spec, exc) from None

        await in_transaction(state.db.engine, remove)
        return JSONResponse(
            action_envelope(f"{spec.name} {spec.delete_message}", record_id, now, principal.email)
        )

    for path in paths:
        include = path == paths[0]
        router.add_api_route(
            path,
            search,
            methods=["GET"],
            include_in_schema=include,
            summary=f"Search {spec.name} records",
            operation_id=f"search_{spec.path}_{path}",
        )
        router.add_api_route(
            path + "/{id}",
            get_one,
            methods=["GET"],
            include_in_schema=include,
            summary=f"Get one {spec.name}",
            operation_id=f"get_{spec.path}_{path}",
        )
        router.add_api_route(
            path,
            create,
            methods=["POST"],
            include_in_schema=include,
            summary=f"Create a {spec.name}",
            operation_id=f"create_{spec.path}_{path}",
        )
        router.add_api_route(
            path,
            update_record,
            methods=["PUT"],
            include_in_schema=include,
            summary=f"Replace a {spec.name} (Id in the body)",
            operation_id=f"update_{spec.path}_{path}",
        )
        router.add_api_route(
            path + "/{id}",
            delete_record,
            methods=["DELETE"],
            include_in_schema=include,
            summary=f"Delete a {spec.name}",
            operation_id=f"delete_{spec.path}_{path}",
        )
    return router


def _system_id(body: Mapping[str, Any]) -> str | None:
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
