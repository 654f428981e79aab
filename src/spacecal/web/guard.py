"""The HTTP protocol `spacecal serve` runs: uvicorn's httptools protocol with limits on
what comes before the app sees a request (issue 17 item 5).

uvicorn has no deadline for a request's headers, and with httptools no limit on their
size (a client trickling a header byte a second stayed connected; an 8 MiB header got
a 200). This subclass:

- arms a deadline when a connection is made, and when a later request's headers do
  not arrive in one read: the line and headers must arrive within
  `header_timeout_seconds`, else 408 and close (a connection that sent nothing is
  closed silently; between requests uvicorn's keep-alive timeout applies);
- counts the bytes read while headers are expected: past `max_header_bytes`, 431 and
  close, with at most one read (256 KiB) held past the limit (the headers themselves
  are measured only when their reads passed it). A pipelined request that begins in
  the read where the one before it ended is measured by what the parser took of it
  (its line and headers), since that read's bytes were counted for the one before,
  and its headers get the deadline too;
- gives a request's body `body_timeout_seconds` from its first bytes (plus a second,
  so the app's own answer from web/limits.py comes first), then closes: a body the
  app never reads cannot hold the connection either;
- closes gently when a request is still arriving: it sends its answer and FIN, reads
  and drops what still comes for a moment, then closes. Closing a socket with unread
  bytes resets the connection, and a reset can destroy the 413 or 431 before the
  client reads it.

Body sizes are the app's part (web/limits.py), so they hold under any server.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from spacecal.config import Settings

LINGER_SECONDS = 2.0
BODY_GRACE_SECONDS = 1.0


def guarded_protocol(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with `settings`' limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "max_header_bytes": settings.max_header_bytes,
            "header_timeout": settings.header_timeout_seconds,
            "body_timeout": settings.body_timeout_seconds,
        },
    )


class _GentleClose:
    """The connection's transport, whose close() lingers while a request is still
    arriving (see the module's note); everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self.lingering = False
        # The hot path's methods, bound once (not looked up through __getattr__).
        self.write = transport.write
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading
        self.get_extra_info = transport.get_extra_info

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        transport = self._transport
        if self.lingering or transport.is_closing():
            transport.close()
            return
        if not self._protocol.request_unfinished or not transport.can_write_eof():
            transport.close()
            return
        self.lingering = True
        transport.write_eof()  # after the answer still buffered
        transport.resume_reading()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 32 * 1024
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_headers = True
        self._in_body = False
        self._received = 0  # bytes of the current request line and headers so far
        self._ended_in_read = False  # a request ended in the read being parsed
        self._pipelined = False  # the current request began in a read counted for another
        self._refusal: tuple[int, str] | None = None  # sent once the request before is answered
        self._deadline: asyncio.TimerHandle | None = None
        self._gentle: _GentleClose | None = None

    @property
    def request_unfinished(self) -> bool:
        return self._in_body or (self._in_headers and self._received > 0)

    # -- the connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._gentle = _GentleClose(transport, self)
        super().connection_made(self._gentle)  # type: ignore[arg-type]
        self._arm(self.header_timeout, self._headers_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None or (self._gentle is not None and self._gentle.lingering):
            return  # the answer is sent or decided: drop the rest
        if self._in_headers:
            self._received += len(data)
        self._ended_in_read = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except _Refused:
            return
        except httptools.HttpParserError:
            if self._refusal is not None or self.transport.is_closing():
                return  # refused from a callback below
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._ended_in_read and self._pipelined and self._in_headers:
            # What the parser took of a request begun after the last one ended in this
            # read (a header still arriving is held inside the parser, at most this read).
            self._received = self._header_size() or 1
        if self._in_headers and self._received and not self.transport.is_closing():
            if self._received > self.max_header_bytes:
                self._refuse_headers(431, "The request's headers are too large.")
            elif self._deadline is None:
                # A keep-alive connection's next request, its headers not all here yet.
                # (Most arrive in one read: no timer for them.)
                self._arm(self.header_timeout, self._headers_late)

    # -- parser callbacks (the hot path: as little as possible per request) ---------

    def on_message_begin(self) -> None:
        self._pipelined = self._ended_in_read
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_headers, self._in_body = False, True
        # Only a request whose reads passed the limit, or one begun in a read counted
        # for the request before it, can have headers past it.
        if (
            self._received > self.max_header_bytes or self._pipelined
        ) and self._header_size() > self.max_header_bytes:
            self._refuse_headers(431, "The request's headers are too large.")
            raise _Refused  # stops the parser (data_received drops the rest)
        self._received = 0
        self._pipelined = False
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._deadline is None:  # the body's clock starts with its first bytes
            self._arm(self.body_timeout + BODY_GRACE_SECONDS, self._body_late)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_headers, self._in_body = True, False
        self._received = 0
        self._ended_in_read = True  # the rest of this read was counted for this request
        super().on_message_complete()

    def _header_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    # -- deadlines and refusals ----------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._received == 0 and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()  # connected and sent nothing (or nothing more)
        else:
            self._refuse_headers(408, "The request's headers did not arrive in time.")

    def _body_late(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            # The app sees the client gone; whatever it answers later is not sent.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self._refuse(408, "The request body did not arrive in time.")
        else:
            self.transport.close()

    def _refuse_headers(self, status: int, message: str) -> None:
        """Refuse the request whose headers are arriving; when one before it (pipelined)
        is still being answered, after that answer, so answers keep their order."""
        if self.cycle is not None and not self.cycle.response_complete:
            self._refusal = (status, message)
            self._disarm()
            self.flow.pause_reading()
            return
        self._refuse(status, message)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        refusal = self._refusal
        if refusal is not None and (self.cycle is None or self.cycle.response_complete):
            self._refusal = None
            if not self.transport.is_closing():
                self._refuse(*refusal)

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""
