"""The `spacecal` command as an operator uses it, in real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest

SPACECAL = [sys.executable, "-m", "spacecal.cli"]


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        SPACECAL + args, env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
    env.pop("DATABASE_URL", None)
    env["SPACECAL_DATA_DIR"] = str(data_dir)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["worker"],
        ["db"],
        ["db", "upgrade"],
        ["users"],
        ["users", "create"],
        ["emulate"],
    ],
)
def test_every_command_explains_itself(command: list[str]) -> None:
    done = run([*command, "--help"], dict(os.environ))
    assert done.returncode == 0
    assert "usage: spacecal" in done.stdout
    assert len(done.stdout.splitlines()) > 3


def test_users_create_rejects_unknown_roles_before_touching_the_database(
    embedded_data_dir: Path,
) -> None:
    tmp_path = embedded_data_dir
    done = run(
        ["users", "create", "ops@example.com", "--password", "long enough", "--role", "Nope-Read"],
        embedded_env(tmp_path),
    )
    assert done.returncode == 2
    assert "unknown role(s): Nope-Read" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "pgdata").exists()


def test_external_database_needs_keys(
    embedded_data_dir: Path, server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    env = embedded_env(embedded_data_dir)
    env["DATABASE_URL"] = fresh_database_on(server_url)
    done = run(["users", "create", "ops@example.com", "--password", "long enough"], env)
    assert done.returncode == 2
    assert "SPACECAL_SECRET_KEYS is required when DATABASE_URL is set" in done.stderr
    assert "Traceback" not in done.stderr


def _postgres_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*SPACECAL, "serve", "--port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx2.TransportError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    proc.kill()
    out = proc.stdout.read() if proc.stdout else ""
    raise AssertionError(f"spacecal serve did not become ready:\n{out}")


@pytest.mark.embedded
def test_serve_on_the_embedded_database_keeps_data_and_stops_cleanly(
    embedded_data_dir: Path,
) -> None:
    tmp_path = embedded_data_dir
    env = embedded_env(tmp_path)
    made = run(
        ["users", "create", "Admin@Example.com", "--password-stdin", "--full-admin"],
        env,
        stdin="a long password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "Created API user admin@example.com" in made.stdout
    assert not _postgres_running(tmp_path), "a finished command must release the database"

    port = free_port()
    server = _serve(env, port)
    try:
        base = f"http://127.0.0.1:{port}"
        auth = ("admin@example.com", "a long password")
        answer = httpx2.post(
            f"{base}/api/spaces/businesses",
            auth=auth,
            json={"Name": "Riverside", "TimeZone": "Europe/London"},
        )
        assert answer.status_code == 200, answer.text
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0
    assert not _postgres_running(tmp_path)

    server = _serve(env, port)
    try:
        listed = httpx2.get(f"http://127.0.0.1:{port}/api/spaces/businesses", auth=auth)
        assert [r["Name"] for r in listed.json()["Records"]] == ["Riverside"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    assert not _postgres_running(tmp_path)


async def test_worker_runs_queued_jobs_and_stops_on_sigterm(
    server_url: str, fresh_database_on: Callable[[str], str], embedded_data_dir: Path
) -> None:
    from cryptography.fernet import Fernet
    from sqlalchemy import text

    from spacecal.config import Settings
    from spacecal.db.engine import open_database
    from spacecal.jobs.reconcile import defer_reconcile

    url = fresh_database_on(server_url)
    key = Fernet.generate_key().decode()
    db = await open_database(Settings(database_url=url, secret_keys=key))
    async with db.engine.begin() as conn:
        # A reconcile of a connection that does not exist: the job runs and is skipped.
        assert await defer_reconcile(conn, 424242, None)
    env = embedded_env(embedded_data_dir)
    env.update(DATABASE_URL=url, SPACECAL_SECRET_KEYS=key)
    proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, polled below
        [*SPACECAL, "worker", "--concurrency", "1"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = None
        for _ in range(120):
            async with db.engine.connect() as conn:
                status = await conn.scalar(
                    text(
                        "SELECT status FROM procrastinate_jobs"
                        " WHERE task_name = 'spacecal.reconcile'"
                    )
                )
            if status == "succeeded":
                break
            await asyncio.sleep(0.25)
        assert status == "succeeded"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        await db.dispose()
    assert proc.returncode == 0, out
    assert "worker running 1 job(s) at a time" in out
    assert "Traceback" not in out
