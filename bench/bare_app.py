"""The reference for bench/api.py and bench/sync.py: a bare FastAPI app, served by the
same uvicorn settings as spacecal, answering constants. Ratios against it factor out
the machine."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

app = FastAPI()
RECORD = {"Id": 1, "Name": "Meeting Room A · Riverside", "ResourceId": 1}


@app.get("/record")
async def record() -> JSONResponse:
    return JSONResponse(RECORD)


@app.post("/notify")
async def notify() -> Response:
    return Response(status_code=202)
