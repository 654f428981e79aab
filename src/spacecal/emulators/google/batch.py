"""Google's batch endpoint, `POST /batch/calendar/v3` ("Send batch requests", Calendar
API guide).

The body is `multipart/mixed`; each part is `Content-Type: application/http` (an
optional `Content-ID`) whose body is a whole HTTP request with a path-only URL. The
outer request's headers (Authorization above all) apply to every inner request
unless the inner one sets its own. Each inner request is served as if sent alone,
through the whole emulator (call log, faults, usage limits): a batch of n counts as n
requests against the quota, and one inner call's failure is its part's answer only.
At most 1000 calls per batch (400 beyond). The answer is `multipart/mixed`, one
`application/http` part per call in order, `Content-ID: <response-ID>` for a part
sent as `<ID>`. Inner requests must be Calendar v3 calls.
"""

from __future__ import annotations

import json
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BATCH_PATH = "/batch/calendar/v3"
MAX_CALLS = 1000
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _Inner:
    def __init__(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        self.method, self.target, self.headers, self.body = method, target, headers, body


def _parse_inner(raw: bytes) -> _Inner:
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    method, target, *_ = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip().lower(), value.strip()))
    return _Inner(method.upper(), target, headers, body.rstrip(b"\n"))


def _error(status: int, message: str) -> bytes:
    return json.dumps(
        {"error": {"code": status, "message": message, "errors": [{"message": message}]}}
    ).encode()


class GoogleBatch:
    """ASGI middleware in front of the whole emulator (`app` includes the call log and
    the limits, so each inner call is logged and counted as itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != BATCH_PATH:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        outer = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, payload, content_type = await self._batch(scope, outer, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _batch(
        self, scope: Scope, outer: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        content_type = outer.get("content-type", "")
        if scope["method"] != "POST" or not content_type.startswith("multipart/mixed"):
            return 400, _error(400, "Batch requests are multipart/mixed POSTs."), "application/json"
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        parts = list(message.iter_parts()) if message.is_multipart() else []
        if not parts:
            return 400, _error(400, "The batch holds no request."), "application/json"
        if len(parts) > MAX_CALLS:
            return (
                400,
                _error(400, f"A batch holds at most {MAX_CALLS} calls."),
                "application/json",
            )
        boundary = f"batch_{uuid.uuid4().hex}"
        out = bytearray()
        for part in parts:
            raw = part.get_payload(decode=True)
            content_id = str(part.get("Content-ID") or "")
            inner = _parse_inner(raw if isinstance(raw, bytes) else b"")
            status, headers, answer = await self._one(scope, outer, inner)
            out += f"--{boundary}\r\nContent-Type: application/http\r\n".encode()
            if content_id:
                out += f"Content-ID: <response-{content_id.strip('<>')}>\r\n".encode()
            out += f"\r\nHTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n".encode()
            for name, value in headers:
                out += f"{name}: {value}\r\n".encode("latin-1")
            out += f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return 200, bytes(out), f"multipart/mixed; boundary={boundary}"

    async def _one(
        self, scope: Scope, outer: dict[str, str], inner: _Inner
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        path, _, query = inner.target.partition("?")
        if not unquote(path).startswith("/calendar/v3/"):
            return (
                400,
                [("Content-Type", "application/json")],
                _error(400, "Every call of a batch must go to the Calendar API (/calendar/v3)."),
            )
        headers = dict(outer)
        headers.pop("content-type", None)
        headers.pop("content-length", None)
        headers.update(dict(inner.headers))
        headers["content-length"] = str(len(inner.body))
        sub: dict[str, Any] = {
            **scope,
            "method": inner.method,
            "path": unquote(path),  # ASGI paths are decoded; raw_path keeps the wire form
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
        sent = {"done": False}

        async def receive() -> Message:
            if sent["done"]:
                return {"type": "http.disconnect"}
            sent["done"] = True
            return {"type": "http.request", "body": inner.body, "more_body": False}

        answer: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() not in (b"content-length", b"transfer-encoding")
                ]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(sub, receive, capture)
        return int(answer["status"]), list(answer["headers"]), bytes(answer["body"])
