"""Real CalDAV servers for the tests: Radicale (plain HTTP, htpasswd with bcrypt) and
Xandikos (HTTPS with its self-signed `--autocert` certificate for `localhost`,
`--htpasswd`), each a subprocess on a free loopback port, started once per session
and killed at its end. Both are GPL-licensed test dependencies, never runtime ones.

`caldav_server` is parametrized over both; `caldav_settings(server)` gives spacecal
settings that trust Xandikos' certificate (SPACECAL_CALDAV_CA_FILE) and allow
loopback targets (SPACECAL_ALLOW_PRIVATE_TARGETS).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx2
import pytest
from tests.support.procs import free_port, new_temp_dir

from spacecal.config import Settings

USERNAME = "ann"
PASSWORD = "correct horse battery staple"
_BIN = Path(sys.executable).parent


@dataclass
class CalDavServer:
    name: str
    url: str  # what a member would type
    username: str
    password: str
    ca_file: Path | None
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _htpasswd(path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"{USERNAME}:{hashed}\n")


def _wait(server: CalDavServer, timeout: float = 30.0) -> None:
    """Until the server answers an authenticated PROPFIND (or fail with its log)."""
    verify: ssl.SSLContext | bool = True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.tail()}")
        if server.ca_file is not None:
            if not server.ca_file.exists():
                time.sleep(0.1)
                continue
            verify = ssl.create_default_context(cafile=str(server.ca_file))
        try:
            answer = httpx2.request(
                "PROPFIND",
                server.url,
                auth=(server.username, server.password),
                headers={"Depth": "0"},
                verify=verify,
                timeout=2.0,
            )
            if answer.status_code < 500:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start:\n{server.tail()}")


def start_radicale() -> CalDavServer:
    root = new_temp_dir("radicale")
    _htpasswd(root / "users")
    port = free_port()
    config = root / "config"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = htpasswd\n"
        f"htpasswd_filename = {root / 'users'}\n"
        "htpasswd_encryption = bcrypt\n"
        "delay = 0\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        f"filesystem_folder = {root / 'collections'}\n"
        "[logging]\n"
        "level = warning\n"
    )
    log = root / "radicale.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = CalDavServer(
        "radicale", f"http://127.0.0.1:{port}/", USERNAME, PASSWORD, None, process, log
    )
    with _stopped_on_failure(server):
        _wait(server)
    return server


def start_xandikos() -> CalDavServer:
    root = new_temp_dir("xandikos")
    _htpasswd(root / "users")
    port = free_port()
    state = root / "state"
    log = root / "xandikos.log"
    process = subprocess.Popen(
        [
            str(_BIN / "xandikos"),
            "serve",
            "--directory",
            str(root / "data"),
            "--state-dir",
            str(state),
            "--defaults",
            "--current-user-principal",
            f"/{USERNAME}/",
            "--listen-address",
            "localhost",
            "--port",
            str(port),
            "--autocert",
            "--htpasswd",
            str(root / "users"),
            "--no-detect-systemd",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "XDG_DATA_HOME": str(root)},
    )
    server = CalDavServer(
        "xandikos",
        f"https://localhost:{port}/",
        USERNAME,
        PASSWORD,
        None,
        process,
        log,
    )
    with _stopped_on_failure(server):
        _wait_certificate(server, state / "certs" / "selfsigned.crt")
        _wait(server)
    return server


def _wait_certificate(server: CalDavServer, certificate: Path) -> None:
    """Until Xandikos has written its self-signed certificate (the CA file to trust)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not certificate.exists():
        if server.process.poll() is not None:
            raise RuntimeError(f"xandikos exited:\n{server.tail()}")
        time.sleep(0.1)
    if not certificate.exists():
        raise RuntimeError(f"xandikos made no certificate:\n{server.tail()}")
    time.sleep(0.2)  # written in one go, but let the writer close it
    server.ca_file = certificate


@contextlib.contextmanager
def _stopped_on_failure(server: CalDavServer) -> Iterator[None]:
    """A server that failed to start is stopped, not left running."""
    try:
        yield
    except BaseException:
        stop(server)
        raise


def stop(server: CalDavServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


_STARTERS = {"radicale": start_radicale, "xandikos": start_xandikos}


@pytest.fixture(scope="session")
def caldav_servers() -> Iterator[dict[str, CalDavServer]]:
    """Each server started on first use, all stopped at the session's end."""
    started: dict[str, CalDavServer] = {}

    class Lazy(dict[str, CalDavServer]):
        def __missing__(self, name: str) -> CalDavServer:
            started[name] = _STARTERS[name]()
            self[name] = started[name]
            return started[name]

    yield Lazy()
    for server in started.values():
        stop(server)


@pytest.fixture(params=["radicale", "xandikos"])
def caldav_server(
    request: pytest.FixtureRequest, caldav_servers: dict[str, CalDavServer]
) -> CalDavServer:
    return caldav_servers[str(request.param)]


def caldav_settings(server: CalDavServer, **overrides: object) -> Settings:
    """Settings for reaching `server`: loopback allowed, its certificate trusted."""
    values: dict[str, object] = {
        "allow_private_targets": True,
        "caldav_ca_file": server.ca_file,
        "caldav_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
