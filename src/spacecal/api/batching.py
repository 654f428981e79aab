"""Reads by id of concurrent requests, answered by one query.

Under load, many get-one requests are in flight at once and each would pay its own
round trip to PostgreSQL; on a small machine those round trips (syscalls, wake-ups,
a backend executing one tiny statement each) cost more than everything else in the
request. `CoalescedReads` keeps at most `lanes` queries in flight per record type:
a request that finds a free lane starts a query at once (no added wait when the
service is quiet); requests that arrive while the lanes are busy queue up, and the
next free lane fetches all of them with one `id = ANY(:ids)` statement.

Freshness: a request is answered only by a query that started after it arrived
(the queue is taken when a query starts), so it sees every write committed before
it was made, exactly as a query of its own would. Nothing is cached between queries.

The statement is the record's SQLAlchemy select, compiled once for the engine's
dialect (`CompiledRead`). Each query runs on the pooled connection's own psycopg
connection, and each column goes through the result processor SQLAlchemy would
apply: SQLAlchemy's per-execution work (result metadata, events) cost about three
times the query itself here, and one compiled text never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import Any

import psycopg
from sqlalchemy import BigInteger, Dialect, Select, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler

from spacecal.api.statements import base_select
from spacecal.records.spec import RecordSpec

Row = Mapping[str, Any]


def by_ids_statement(spec: RecordSpec) -> Select[Any]:
    """The record's select (the same columns as every other read) for a list of ids:
    one SQL text whatever the count, so PostgreSQL prepares it once per connection."""
    ids = bindparam("ids", type_=ARRAY(BigInteger()))
    return base_select(spec).where(spec.table.c.id == any_(ids))


class CompiledRead:
    """A select compiled once, run with psycopg, rows converted as SQLAlchemy would."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.compiled = compiled
        self.sql = compiled.string
        self.dialect = dialect
        self.keys = list(statement.selected_columns.keys())
        self.types = [column.type.dialect_impl(dialect) for column in statement.selected_columns]
        self.bind_processors = {
            compiled.bind_names[bind]: processor
            for bind in set(compiled.binds.values())
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self._result_processors: list[Any] | None = None

    def params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(self.compiled.construct_params(dict(values)))
        for name, processor in self.bind_processors.items():
            params[name] = processor(params[name])
        return params

    async def rows(self, raw: psycopg.AsyncConnection[Any], values: Mapping[str, Any]) -> list[Row]:
        """Run on a checked-out pooled connection's psycopg connection (autocommit)."""
        cursor = await raw.execute(self.sql, self.params(values))
        fetched = await cursor.fetchall()
        processors = self._result_processors
        if processors is None:
            type_codes = [column.type_code for column in cursor.description or ()]
            processors = [
                kind.result_processor(self.dialect, code)
                for kind, code in zip(self.types, type_codes, strict=True)
            ]
            self._result_processors = processors
        keys = self.keys
        return [
            {
                key: value if processor is None else processor(value)
                for key, processor, value in zip(keys, processors, row, strict=True)
            }
            for row in fetched
        ]


class CoalescedReads:
    """Rows of one record type by id; concurrent calls share queries (module docstring)."""

    def __init__(
        self, reads: AsyncEngine, spec: RecordSpec, lanes: int, max_batch: int = 256
    ) -> None:
        self.reads = reads  # autocommit: one statement, one round trip
        self.read = CompiledRead(by_ids_statement(spec), reads.dialect)
        self.lanes = lanes
        self.max_batch = max_batch
        self._waiting: dict[int, list[asyncio.Future[Row | None]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # strong references while running
        self.queries = 0  # queries run and requests answered, to see the sharing
        self.requests = 0

    async def get(self, record_id: int) -> Row | None:
        """The row with this id, or None when there is none (in this record type)."""
        self.requests += 1
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(record_id, []).append(future)
        if self._running < self.lanes:
            self._start_lane()
        return await future

    def _start_lane(self) -> None:
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._lane())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lane(self) -> None:
        """Fetch what is queued until the queue is empty, on one pooled connection."""
        connected = False
        try:
            async with self.reads.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert isinstance(raw, psycopg.AsyncConnection)
                connected = True
                while self._waiting:
                    batch = self._take()
                    try:
                        rows = await self._fetch(raw, list(batch))
                    except BaseException as exc:
                        _settle(batch, exc)
                        if isinstance(exc, psycopg.OperationalError) or raw.closed:
                            await conn.invalidate()  # the pool must not hand it out again
                        raise
                    _answer(batch, rows)
        except BaseException as exc:
            if not connected:
                # No connection to be had: fail what is queued rather than retry in a loop.
                _settle(self._take_all(), exc)
            if not isinstance(exc, Exception):
                raise  # cancelled: the loop is shutting down
        finally:
            self._running -= 1
        if self._waiting and self._running < self.lanes:
            # Requests queued behind a failed query get a lane (and connection) of their own.
            self._start_lane()

    def _take(self) -> dict[int, list[asyncio.Future[Row | None]]]:
        if len(self._waiting) <= self.max_batch:
            batch, self._waiting = self._waiting, {}
            return batch
        return {key: self._waiting.pop(key) for key in list(islice(self._waiting, self.max_batch))}

    async def _fetch(self, raw: psycopg.AsyncConnection[Any], ids: Sequence[int]) -> dict[int, Row]:
        self.queries += 1
        return {row["id"]: row for row in await self.read.rows(raw, {"ids": ids})}

    def _take_all(self) -> dict[int, list[asyncio.Future[Row | None]]]:
        batch, self._waiting = self._waiting, {}
        return batch


def _answer(batch: dict[int, list[asyncio.Future[Row | None]]], rows: Mapping[int, Row]) -> None:
    for record_id, futures in batch.items():
        row = rows.get(record_id)
        for future in futures:
            if not future.done():  # a waiter cancelled meanwhile
                future.set_result(row)


def _settle(batch: dict[int, list[asyncio.Future[Row | None]]], exc: BaseException) -> None:
    """Every waiter of a failed query gets the failure (or is cancelled with the lane)."""
    for futures in batch.values():
        for future in futures:
            if future.done():
                continue
            if isinstance(exc, Exception):
                future.set_exception(exc)
            else:
                future.cancel()
