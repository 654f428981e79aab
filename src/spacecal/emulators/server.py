"""Run one emulator as a standalone HTTP server (`spacecal emulate <provider>`).

`serve(provider, host, port, seed)` builds the emulator, binds the port (port 0 picks
a free one), prints one `name=url` line per base URL a client needs (api, authorize,
token, revoke, control, plus any the provider adds), flushes stdout, and serves with
uvicorn until SIGINT/SIGTERM, then exits cleanly. Push delivery uses a real HTTP
client with server-grade backoff.

Providers register a builder here: `BUILDERS` maps a name to "module:function"
(imported lazily, so a provider's import errors cannot break the others), or call
`register(name, builder)`. A builder takes `(base_url, seed)` and returns an object
with `.app` (ASGI), `.urls() -> dict[str, str]` and `async aclose()`.
"""

from __future__ import annotations

import asyncio
import importlib
import signal
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

import uvicorn
from starlette.types import ASGIApp

from spacecal.emulators.common.sockets import listen_tcp


class MovableClock(Protocol):
    def advance(self, delta: timedelta) -> None: ...


class ServedEmulator(Protocol):
    @property
    def app(self) -> ASGIApp: ...

    @property
    def clock(self) -> MovableClock: ...

    def urls(self) -> dict[str, str]: ...

    async def aclose(self) -> None: ...


Builder = Callable[[str, int], ServedEmulator]

#: provider name -> "module:function" building it from (base_url, seed).
BUILDERS: dict[str, str | Builder] = {
    "google": "spacecal.emulators.google.emulator:build_server",
    "microsoft": "spacecal.emulators.microsoft.emulator:build_server",
}


def register(name: str, builder: str | Builder) -> None:
    BUILDERS[name] = builder


def build(provider: str, base_url: str, seed: int = 0) -> ServedEmulator:
    entry = BUILDERS.get(provider)
    if entry is None:
        known = ", ".join(sorted(BUILDERS))
        raise ValueError(f"unknown emulator {provider!r} (known: {known})")
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        builder: Builder = getattr(importlib.import_module(module_name), attr)
    else:
        builder = entry
    return builder(base_url, seed)


def serve(
    provider: str, host: str, port: int, seed: int = 0, clock_offset_seconds: float = 0.0
) -> None:
    """Serve `provider`'s emulator on host:port until SIGINT/SIGTERM, its clock
    `clock_offset_seconds` from the machine's (test fleets run at an instant they
    choose, with every process shifted alike)."""
    sock = listen_tcp(host, port)
    bound_port = sock.getsockname()[1]
    url_host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)  # noqa: S104
    if ":" in url_host and not url_host.startswith("["):
        url_host = f"[{url_host}]"
    emulator = build(provider, f"http://{url_host}:{bound_port}", seed)
    if clock_offset_seconds:
        emulator.clock.advance(timedelta(seconds=clock_offset_seconds))
    for name, url in emulator.urls().items():
        print(f"{name}={url}")
    sys.stdout.flush()
    config = uvicorn.Config(emulator.app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    if threading.current_thread() is threading.main_thread():
        # uvicorn re-raises the signal that stopped it once it has shut down; these
        # handlers make that a no-op, so a stop is a clean exit (status 0).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda _sig, _frame: None)

    async def run() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            await emulator.aclose()

    asyncio.run(run())
    sock.close()
