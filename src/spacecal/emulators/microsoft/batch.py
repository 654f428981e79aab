"""Graph's JSON batching, `POST /v1.0/$batch` ("Combine multiple HTTP requests using
JSON batching", Microsoft Graph docs).

The body is `{"requests": [{"id", "method", "url", "headers"?, "body"?,
"dependsOn"?}]}`, at most 20 requests (400 beyond), each `url` relative to the version
(`/me/events`; an absolute URL on the service root, as msgraph-sdk sends, is taken
too). The outer Authorization applies to every request. Requests without
`dependsOn` run at once, each through the whole emulator (call log, faults, the
mailbox's 4 concurrent requests): so a batch of more than 4 calls to one mailbox gets
429 `ApplicationThrottled` with Retry-After for the ones past the limit, item by
item, as Graph does; the client retries those. With `dependsOn` anywhere, requests
run one after another in order (a request whose dependency failed answers 424). The
answer is 200 with `{"responses": [{"id", "status", "headers", "body"}]}` (order not
guaranteed by Graph; this one keeps the request order).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BATCH_PATH = "/v1.0/$batch"
MAX_REQUESTS = 20


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class GraphBatch:
    """ASGI middleware in front of the whole emulator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != BATCH_PATH:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = await self._batch(scope, body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _batch(self, scope: Scope, body: bytes) -> tuple[int, dict[str, Any]]:
        if scope["method"] != "POST":
            return 405, _error(405, "MethodNotAllowed", "POST a JSON batch.")
        try:
            requests = json.loads(body or b"{}").get("requests")
        except (ValueError, AttributeError):
            requests = None
        if not isinstance(requests, list) or not requests:
            return 400, _error(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_REQUESTS:
            return 400, _error(
                400, "BadRequest", f"Batch request cannot exceed {MAX_REQUESTS} requests."
            )
        ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in requests]
        if "" in ids or len(set(ids)) != len(ids):
            return 400, _error(400, "BadRequest", "Every request needs a unique id.")
        outer = [(k, v) for k, v in scope["headers"] if k.lower() in (b"authorization", b"host")]
        if any("dependsOn" in r for r in requests):
            results: dict[str, dict[str, Any]] = {}
            for request in requests:
                failed = [
                    d
                    for d in request.get("dependsOn") or []
                    if results.get(str(d), {}).get("status", 424) >= 400
                ]
                if failed:
                    results[str(request["id"])] = {
                        "id": str(request["id"]),
                        "status": 424,
                        "body": _error(424, "FailedDependency", "A request it depends on failed."),
                    }
                    continue
                results[str(request["id"])] = await self._one(scope, outer, request)
            responses = [results[i] for i in ids]
        else:
            responses = list(await asyncio.gather(*(self._one(scope, outer, r) for r in requests)))
        return 200, {"responses": responses}

    async def _one(
        self, scope: Scope, outer: list[tuple[bytes, bytes]], request: dict[str, Any]
    ) -> dict[str, Any]:
        rid = str(request["id"])
        url = str(request.get("url") or "")
        method = str(request.get("method") or "GET").upper()
        if url.startswith(("https://", "http://")):
            # msgraph-sdk sends absolute URLs on the service root; Graph takes them.
            parts = urlsplit(url)
            url = parts.path.removeprefix("/v1.0") + (f"?{parts.query}" if parts.query else "")
        if not url.startswith("/") or url.startswith("/v1.0/"):
            return {"id": rid, "status": 400, "body": _error(400, "BadRequest", "Invalid url.")}
        path, _, query = ("/v1.0" + url).partition("?")
        body = request.get("body")
        raw = b"" if body is None else json.dumps(body).encode()
        headers = list(outer)
        for name, value in (request.get("headers") or {}).items():
            headers.append((str(name).lower().encode(), str(value).encode()))
        if raw and not any(k == b"content-type" for k, _ in headers):
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(raw)).encode()))
        sub: dict[str, Any] = {
            **scope,
            "method": method,
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": headers,
        }
        given = {"done": False}

        async def receive() -> Message:
            if given["done"]:
                return {"type": "http.disconnect"}
            given["done"] = True
            return {"type": "http.request", "body": raw, "more_body": False}

        answer: dict[str, Any] = {"status": 500, "headers": {}, "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                # Graph names them like HTTP headers in JSON ("Retry-After").
                answer["headers"] = {
                    "-".join(w.capitalize() for w in k.decode("latin-1").split("-")): v.decode(
                        "latin-1"
                    )
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-length", b"transfer-encoding")
                }
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(sub, receive, capture)
        out: dict[str, Any] = {"id": rid, "status": answer["status"], "headers": answer["headers"]}
        if answer["body"]:
            try:
                out["body"] = json.loads(answer["body"])
            except ValueError:
                out["body"] = answer["body"].decode("utf-8", "replace")
        return out
