"""The demo's running parts, in one process and one event loop: the embedded
PostgreSQL in a fresh temporary data directory, both provider emulators and spacecal
(API, portal, webhooks) each served by uvicorn on a loopback port, and an in-process
job worker.

Real ports rather than in-process transports: the portal must work from the
newcomer's browser (the Connect button leads to the emulator's consent page), and
push notifications should travel the way they do in production, over HTTP to the
webhooks at `SPACECAL_PUBLIC_URL`. Everything shares one event loop, so the demo's
narrator can act as the member directly on the emulator objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import uvicorn

from spacecal.config import Settings
from spacecal.db.embedded import stop_embedded
from spacecal.db.engine import Database, open_database
from spacecal.emulators.common.sockets import listen_tcp
from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.microsoft import MicrosoftEmulator
from spacecal.emulators.server import build

GOOGLE_CLIENT = ("spacecal-emulator.apps.googleusercontent.com", "spacecal-emulator-secret")
MICROSOFT_CLIENT = ("spacecal-demo-client", "spacecal-demo-secret")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the demo owns SIGINT/SIGTERM and
    stops every server itself (three servers cannot all capture the signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def demo_settings(data_dir: Path, port: int, google: str, microsoft: str) -> Settings:
    """Settings for the demo: embedded database in `data_dir`, every provider URL on
    the emulators, spacecal's public URL on loopback. The environment's DATABASE_URL
    and SPACECAL_SECRET_KEYS are deliberately ignored (a fresh, throwaway space)."""
    public = f"http://127.0.0.1:{port}"
    return Settings().model_copy(
        update={
            "database_url": None,
            "data_dir": data_dir,
            "secret_keys": None,
            "host": "127.0.0.1",
            "port": port,
            "public_url": public,
            "google_client_id": GOOGLE_CLIENT[0],
            "google_client_secret": GOOGLE_CLIENT[1],
            "google_api_base": google + "/calendar/v3",
            "google_authorize_url": google + "/o/oauth2/v2/auth",
            "google_token_url": google + "/token",
            "google_revoke_url": google + "/revoke",
            "microsoft_client_id": MICROSOFT_CLIENT[0],
            "microsoft_client_secret": MICROSOFT_CLIENT[1],
            "microsoft_tenant": "common",
            "microsoft_graph_base": microsoft + "/v1.0",
            "microsoft_login_base": microsoft,
        }
    )


@dataclass
class Stack:
    """Everything the demo started; `stop()` undoes it in reverse order."""

    data_dir: Path
    keep: bool
    settings: Settings | None = None
    db: Database | None = None
    google: GoogleEmulator | None = None
    microsoft: MicrosoftEmulator | None = None
    spacecal_url: str = ""
    google_url: str = ""
    microsoft_url: str = ""
    _servers: list[tuple[_Server, asyncio.Task[None]]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _closers: list[Any] = field(default_factory=list)

    @property
    def database(self) -> Database:
        assert self.db is not None
        return self.db

    async def serve(self, app: Any, sock: socket.socket, *, lifespan: Literal["on", "off"]) -> None:
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan=lifespan)
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="demo-server")
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("a demo server stopped while starting")
            await asyncio.sleep(0.01)

    def spawn(self, task: asyncio.Task[None]) -> None:
        self._tasks.append(task)

    async def stop(self, say: Callable[[str], None]) -> None:
        if self._tasks:
            say("Stopping the worker…")
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._servers:
            say("Stopping spacecal and the emulators…")
        for server, _ in self._servers:
            server.should_exit = True
        for _, task in self._servers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=10)
        for emulator in (self.google, self.microsoft):
            if emulator is not None:
                with contextlib.suppress(Exception):
                    await emulator.aclose()
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer()
        if self.db is not None:
            await self.db.dispose()
            say("Stopping the embedded database…")
            await asyncio.to_thread(stop_embedded, self.data_dir)
        if self.keep:
            say(f"Kept the data directory {self.data_dir}.")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def new_data_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="spacecal-demo-"))
    path.chmod(0o755)  # the embedded server may run as another user when we are root
    return path


async def start(
    stack: Stack, port: int, say: Callable[[str], None], *, worker: bool = True
) -> None:
    """Start every part into `stack` (which the caller stops, even after a failure).
    `worker` False leaves jobs queued (bench/sync.py runs reconcile itself)."""
    from spacecal.app import build_services, create_app
    from spacecal.runner import run_worker

    spacecal_sock, google_sock, microsoft_sock = (
        listen_tcp("127.0.0.1", port),
        listen_tcp("127.0.0.1", 0),
        listen_tcp("127.0.0.1", 0),
    )
    port = spacecal_sock.getsockname()[1]
    stack.spacecal_url = f"http://127.0.0.1:{port}"
    stack.google_url = f"http://127.0.0.1:{google_sock.getsockname()[1]}"
    stack.microsoft_url = f"http://127.0.0.1:{microsoft_sock.getsockname()[1]}"
    settings = demo_settings(stack.data_dir, port, stack.google_url, stack.microsoft_url)
    stack.settings = settings

    say(f"Starting the embedded database in {stack.data_dir}…")
    stack.db = await open_database(settings)

    say("Starting the Google and Microsoft emulators…")
    google = build("google", stack.google_url, 1)
    microsoft = build("microsoft", stack.microsoft_url, 2)
    assert isinstance(google, GoogleEmulator) and isinstance(microsoft, MicrosoftEmulator)
    stack.google, stack.microsoft = google, microsoft
    await stack.serve(google.app, google_sock, lifespan="off")
    await stack.serve(microsoft.app, microsoft_sock, lifespan="off")
    say(f"  Google emulator on {stack.google_url}, Microsoft emulator on {stack.microsoft_url}")

    say(f"Starting spacecal (API, portal, webhooks) on {stack.spacecal_url}…")
    # One services object for the web parts and the worker (spacecal.app).
    services = build_services(settings, stack.db)
    stack._closers.append(services.http.aclose)
    app = create_app(services=services)
    await stack.serve(app, spacecal_sock, lifespan="on")

    if not worker:
        return
    say("Starting the job worker…")
    jobs = run_worker(services, fetch_job_polling_interval=settings.worker_poll_seconds)
    stack.spawn(asyncio.create_task(jobs, name="demo-worker"))
