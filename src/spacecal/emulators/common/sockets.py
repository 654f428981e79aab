"""Listening sockets for servers handed to uvicorn as ready sockets (`spacecal
emulate`, and the demo's stack for the emulators and spacecal alike): bound and
listening before the URL is printed, so a client reading the URL can connect at once.
Here, not in spacecal proper, because the emulators import nothing from spacecal."""

from __future__ import annotations

import socket


def listen_tcp(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A non-blocking listening TCP socket on host:port (port 0: any free one).

    The socket is made with an explicit IPPROTO_TCP: asyncio sets TCP_NODELAY on an
    accepted connection only when its socket says so, and a socket made with proto 0
    does not. Without TCP_NODELAY, uvicorn's two writes per response (head, then body)
    meet the client's delayed ACK and every answer with a body waits ~40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
