"""GET of one record, answered before FastAPI's routing.

Get-one is the records API's hottest call (a booking system reads connection records
one at a time), and most of its cost was plumbing: FastAPI's routing over every route,
the request object and dependency solving, and one database round trip per request.
This pure-ASGI middleware answers `GET /api/spaces/<record path>/<id>` (and the
aliases) itself, with the very pieces the FastAPI route uses: the authenticator and
its caches, the role check, `parse_path_id`, the record's select, `row_to_record`,
the `ApiError` envelope and `JSONResponse`. So the answer is the same, byte for byte
(tests/api/test_get_one_fast.py compares the two paths). What it adds is that the
reads of concurrent requests share one query (`batching.CoalescedReads`).

The FastAPI route stays: it is the documented operation in `/openapi.json`, and it
serves get-one when `SPACECAL_API_FAST_GET_ONE=false`. Anything that is not a GET of
one record passes through untouched; an unexpected error propagates to the app's
error handler like any route's.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from spacecal.api.batching import CoalescedReads
from spacecal.records.errors import ApiError
from spacecal.records.fields import parse_path_id
from spacecal.records.rows import row_to_record
from spacecal.records.spec import RecordSpec
from spacecal.web.auth import Principal, require
from spacecal.web.services import Services


class GetOneFastPath:
    """ASGI middleware: `GET <prefix>/<path>/<id>` of the given record types."""

    def __init__(self, app: ASGIApp, owner: FastAPI, specs: Sequence[RecordSpec]) -> None:
        self.app = app
        self.owner = owner  # its state carries the services once the lifespan ran
        # "/api/spaces/coworkergooglecalendars/" -> its spec (the aliases too)
        self.specs = {
            f"{spec.prefix}/{name}/": spec for spec in specs for name in (spec.path, *spec.aliases)
        }
        self._readers: dict[str, CoalescedReads] = {}
        self._readers_of: Services | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            target = self._match(_route_path(scope))
            if target is not None:
                response = await self._get_one(scope, *target)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _match(self, path: str) -> tuple[RecordSpec, str] | None:
        """The record type and raw id, matched as Starlette matches `<base>/{id}`."""
        cut = path.rfind("/") + 1
        spec = self.specs.get(path[:cut])
        if spec is None or cut == len(path):
            return None
        return spec, path[cut:]

    async def _get_one(self, scope: Scope, spec: RecordSpec, raw_id: str) -> Response:
        state: Services = self.owner.state.services
        try:
            principal = await _principal(state, scope)
            require(principal, spec.role("Read"))
            record_id = parse_path_id(raw_id)
            row = await self._reader(state, spec).get(record_id)
            if row is None:
                raise ApiError(404, f"{spec.name} with Id {record_id} was not found.")
        except ApiError as exc:
            return exc.response()
        return JSONResponse(row_to_record(spec, row))

    def readers(self) -> dict[str, CoalescedReads]:
        """The readers in use, by record name (for tests and diagnostics)."""
        return dict(self._readers)

    def _reader(self, state: Services, spec: RecordSpec) -> CoalescedReads:
        if self._readers_of is not state:  # a new lifespan, a new database
            self._readers, self._readers_of = {}, state
        reader = self._readers.get(spec.name)
        if reader is None:
            reader = CoalescedReads(state.db.reads, spec, state.settings.api_get_one_lanes)
            self._readers[spec.name] = reader
        return reader


async def _principal(state: Services, scope: Scope) -> Principal:
    """As `state.principal_for` reads it from a Request: the first Authorization header,
    and the client's host."""
    authorization = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
            break
    client = scope.get("client")
    return await state.auth.authenticate(authorization, client[0] if client else "unknown")


def _route_path(scope: Scope) -> str:
    """The path without the app's root_path, as Starlette's router sees it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path
