"""A small fault-injecting HTTP proxy between spacecal and a real CalDAV server
(Radicale in the chaos suite): spacecal is given the proxy's address as the member's
server, the member's own app talks to the server directly.

It is a plain HTTP/1.1 server on a loopback port in the test's event loop, so it runs
beside spacecal's in-process worker and sees every request the CalDAV adapter makes
(over its real guarded client and a real socket). Each request is forwarded to the
server unless a fault rule matches it first. Rules (`add`), consumed in order:

- `http_5xx`: answered with `status` (500/502/503), the server never sees it;
- `http_429`: answered 429 (or 503) with `Retry-After: retry_after`;
- `lost_response`: forwarded (the server applies it), then the connection is closed
  without an answer: a gateway losing the reply to a write that took effect;
- `timeout`: held without an answer until the client gives up and closes (its own
  timeout), the server never sees it;
- `sync_token_invalid`: a sync-collection REPORT carrying a token is answered 403
  with DAV:valid-sync-token (RFC 6578: the token is no longer valid);
- `refuse`: answered with `status` (403: a server whose account may not make
  calendars refuses MKCALENDAR and MKCOL), the server never sees it;
- `unauthorized`: every request answered 401 until `authorized()` (the member changed
  their app password).

`method` restricts a rule to one HTTP method. `writes` counts event writes (PUT and
DELETE of `.ics` resources) the server accepted, the way the emulators count calls;
`hits` the rules that were applied (a rule added but never matched is not a fault).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx2

#: What the proxy never forwards: per-hop headers, and the encoding (the answer is
#: re-framed with its own Content-Length).
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding"}
)
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    207: "Multi-Status",
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_INVALID_TOKEN = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'
)
#: Longest a `timeout` rule holds a request whose client never closes.
_HOLD_SECONDS = 60.0


@dataclass
class Rule:
    kind: str
    times: int = 1
    method: str | None = None
    status: int = 500
    retry_after: int | None = None

    def matches(self, method: str, body: bytes) -> bool:
        if self.method is not None and self.method != method:
            return False
        if self.kind == "sync_token_invalid":
            return method == "REPORT" and b"sync-token>" in body and b"sync-token/>" not in body
        return True


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class FaultProxy:
    upstream: str  # the server's base URL, e.g. http://127.0.0.1:5232/
    rules: list[Rule] = field(default_factory=list)
    writes: int = 0
    requests: int = 0
    hits: dict[str, int] = field(default_factory=dict)  # rules applied, by kind
    refused: bool = False
    _server: asyncio.AbstractServer | None = None
    _client: httpx2.AsyncClient | None = None
    _open: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> None:
        self._client = httpx2.AsyncClient(base_url=self.upstream.rstrip("/"), timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            # Connections kept alive by spacecal's pool are still reading: closing
            # them ends each read (EOF), so every task returns on its own.
            for writer in list(self._open.values()):
                writer.close()
            await asyncio.gather(*self._open, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        if self._client is not None:
            await self._client.aclose()

    def add(
        self,
        kind: str,
        *,
        times: int = 1,
        method: str | None = None,
        status: int = 500,
        retry_after: int | None = None,
    ) -> None:
        self.rules.append(Rule(kind, times, method, status, retry_after))

    def clear(self) -> None:
        self.rules.clear()

    def unauthorized(self) -> None:
        self.refused = True

    def authorized(self) -> None:
        self.refused = False

    def _take(self, method: str, body: bytes) -> Rule | None:
        for rule in self.rules:
            if rule.matches(method, body):
                self.hits[rule.kind] = self.hits.get(rule.kind, 0) + 1
                rule.times -= 1
                if rule.times <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    # -- serving -------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                if not await self._answer(request, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        except ValueError:
            return
        finally:
            self._open.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must close unanswered."""
        self.requests += 1
        if self.refused:
            await _write(writer, 401, [("WWW-Authenticate", 'Basic realm="proxy"')], b"")
            return True
        rule = self._take(request.method, request.body)
        kind = rule.kind if rule is not None else None
        if rule is not None and kind in ("http_5xx", "refuse"):
            await _write(writer, rule.status, [], b"fault")
            return True
        if rule is not None and kind == "http_429":
            headers = [("Retry-After", str(rule.retry_after or 1))]
            await _write(writer, rule.status if rule.status in (429, 503) else 429, headers, b"")
            return True
        if kind == "sync_token_invalid":
            headers = [("Content-Type", "application/xml; charset=utf-8")]
            await _write(writer, 403, headers, _INVALID_TOKEN)
            return True
        if kind == "timeout":
            # Until the client gives up (it closes: EOF) or a long while passed.
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(reader.read(), _HOLD_SECONDS)
            return False
        status, headers, body = await self._forward(request)
        if (
            request.method in ("PUT", "DELETE")
            and request.target.split("?")[0].endswith(".ics")
            and 200 <= status < 300
        ):
            self.writes += 1
        if kind == "lost_response":
            return False  # applied by the server; the answer never reaches spacecal
        await _write(writer, status, headers, body)
        return True

    async def _forward(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self._client is not None
        headers = [(k, v) for k, v in request.headers if k.lower() not in _HOP]
        answer = await self._client.request(
            request.method, request.target, headers=headers, content=request.body
        )
        kept = [
            (k, v)
            for k, v in answer.headers.multi_items()
            if k.lower() not in _HOP and k.lower() != "content-encoding"
        ]
        return answer.status_code, kept, answer.content


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed a kept-alive connection
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    size = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    if any(k.lower() == "transfer-encoding" for k, _ in headers):
        raise ValueError("chunked request bodies are not spoken here")
    body = await reader.readexactly(size) if size else b""
    return Request(method, target, headers, body)


async def _write(
    writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()
