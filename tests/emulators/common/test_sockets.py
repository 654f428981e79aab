"""Loopback servers started from a ready socket (the demo's stack, `spacecal
emulate`): every accepted connection must have TCP_NODELAY. Without it uvicorn's two
writes per response (head, then body) wait for the client's delayed ACK, and every
answer with a body took ~40 ms instead of ~1 ms."""

from __future__ import annotations

import asyncio
import socket

from spacecal.emulators.common.sockets import listen_tcp


async def test_connections_accepted_on_a_listen_tcp_socket_have_tcp_nodelay() -> None:
    sock = listen_tcp("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted_sock = writer.get_extra_info("socket")
        seen.set_result(accepted_sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(seen, 5) != 0
        writer.close()


def test_listen_tcp_refuses_a_port_in_use() -> None:
    first = listen_tcp("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        try:
            listen_tcp("127.0.0.1", port)
        except OSError:
            pass
        else:
            raise AssertionError("a second listener on the same port was allowed")
    finally:
        first.close()
