"""The six operations of every Nexudus-shaped record, served from a RecordSpec.

Reads go through SQLAlchemy Core on one pooled connection and answer with a prebuilt
JSON response (no response-model validation on the hot path); the OpenAPI schema is
still declared per record (see `openapi.py`). What a request may hold is read in
`body.py`; the shared SQL (the record select, one row by Id) is in `statements.py`.
"""

from __future__ import annotations

import math
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.api.body import (
    parse_id_list,
    parse_values,
    read_body,
    seal_secrets,
    single_params,
    system_id,
)
from spacecal.api.query import combined, parse_search
from spacecal.api.statements import base_select, fetch_row, integrity_error
from spacecal.db.engine import in_transaction
from spacecal.records.errors import ApiError
from spacecal.records.fields import ParseError, parse_int, parse_path_id
from spacecal.records.ownership import guard_owned
from spacecal.records.rows import row_to_record
from spacecal.records.spec import RecordSpec
from spacecal.web.auth import require
from spacecal.web.envelopes import action_envelope
from spacecal.web.services import Services, principal_for, services_of


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
            system_id=system_id(body),
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
            values["system_id"] = system_id(body)

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
