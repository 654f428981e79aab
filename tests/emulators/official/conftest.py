"""The emulators served on a loopback port for the official client libraries.

The libraries (google-api-python-client, google-auth, msal, msgraph-sdk) make real
HTTP requests, so each emulator runs in uvicorn on 127.0.0.1:<free port> in a thread
with its own event loop; the Microsoft one behind TLS with a throw-away CA (trustme),
since msal accepts https authorities only. The emulator is built inside that thread
and every call to it from a test goes through `Served.call`, so nothing touches its
state from two threads. Clocks are frozen at tests/support/timing.py START.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import trustme
import uvicorn
from tests.support.timing import START

from spacecal.emulators.common.sockets import listen_tcp

E = TypeVar("E")
T = TypeVar("T")
__all__ = ["START", "Served", "Tls"]


class Tls:
    """A throw-away CA and a certificate for 127.0.0.1 it signed."""

    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.cert_path = root / "server.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(self.cert_path))
        self.ca_path = root / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))


class Served(Generic[E]):
    """An emulator built by `build(base_url)` and served until `close()`."""

    def __init__(self, build: Callable[[str], E], tls: Tls | None = None) -> None:
        sock = listen_tcp("127.0.0.1", 0)
        port = sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self._server: uvicorn.Server | None = None
        self.emu: E
        built = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.emu = build(self.url)
                config = uvicorn.Config(
                    self.emu.app,  # type: ignore[attr-defined]
                    log_level="warning",
                    lifespan="off",
                    access_log=False,
                    ssl_certfile=str(tls.cert_path) if tls else None,
                    # Clients' idle keep-alive connections must not hold the stop up.
                    timeout_graceful_shutdown=1,
                )
                self._server = uvicorn.Server(config)
            except BaseException as exc:
                failure.append(exc)
                raise
            finally:
                built.set()
            self.loop.run_until_complete(self._server.serve(sockets=[sock]))
            self.loop.run_until_complete(self.emu.aclose())  # type: ignore[attr-defined]

        self._thread = threading.Thread(target=main, name=f"emulator:{port}", daemon=True)
        self._thread.start()
        built.wait(30)
        if failure:
            raise failure[0]
        for _ in range(3000):
            if self._server is not None and self._server.started:
                break
            threading.Event().wait(0.01)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the emulator's loop (awaiting it if it is a coroutine function)."""

        async def run() -> T:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                return await result  # type: ignore[no-any-return]
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    async def acall(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` from a test's own event loop, without blocking it."""
        return await asyncio.to_thread(self.call, fn, *args, **kwargs)

    def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    yield Tls(tmp_path_factory.mktemp("tls"))
