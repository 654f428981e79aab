"""`/healthz` (the process answers), `/readyz` (database reachable, schema current)
and `/metrics` (Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from spacecal.db.migrate import head_revision
from spacecal.jobs.status import job_counts
from spacecal.metrics import exposition
from spacecal.web.services import services_of

router = APIRouter(tags=["Health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/metrics", summary="Process metrics in Prometheus text format")
async def metrics(request: Request) -> Response:
    # Labels are provider, outcome and the like, never an id or a secret; the queue
    # gauges are read from the database now (spacecal.metrics).
    state = services_of(request)
    body, content_type = await exposition(state.db.engine, job_counts=job_counts)
    return Response(body, media_type=content_type)


@router.get("/readyz", summary="The database is reachable and migrations are current")
async def readyz(request: Request) -> JSONResponse:
    state = services_of(request)
    try:
        async with asyncio.timeout(3):
            async with state.db.engine.connect() as conn:
                current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "database": "reachable",
                "migrations": f"at {current}, expected {head}: run `spacecal db upgrade`",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "reachable", "migrations": current})
