"""The operator-facing parts of real processes: every new command's --help, and a
`spacecal worker --metrics-port` subprocess serving its metrics and logging JSON lines
(stderr is not a terminal) with a trace id per job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from spacecal.cli import main
from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.jobs.reconcile import defer_reconcile


@pytest.mark.parametrize(
    "command",
    [
        ["connections"],
        ["connections", "list"],
        ["connections", "show"],
        ["connections", "resync"],
        ["connections", "renew"],
        ["doctor"],
        ["keys", "reencrypt"],
    ],
)
def test_new_commands_explain_themselves(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: spacecal") and len(out.splitlines()) > 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_worker_process_serves_metrics_and_logs_json(
    server_url: str, fresh_database_on: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database_on(server_url)
    key = Fernet.generate_key().decode()
    db = await open_database(Settings(database_url=url, secret_keys=key))
    async with db.engine.begin() as conn:
        assert await defer_reconcile(conn, 424242, None)  # runs, finds nothing: skipped
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
    env.update(DATABASE_URL=url, SPACECAL_SECRET_KEYS=key, SPACECAL_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen(  # noqa: ASYNC220 (started once; waited on below)
        [sys.executable, "-m", "spacecal.cli", "worker", "--metrics-port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    answer = None
    status = None
    try:
        async with httpx2.AsyncClient() as client:
            for _ in range(300):
                async with db.engine.connect() as conn:
                    status = await conn.scalar(text("SELECT status FROM procrastinate_jobs"))
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                except httpx2.TransportError:
                    answer = None
                if status == "succeeded" and answer is not None:
                    break
                await asyncio.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
        await db.dispose()
    assert proc.returncode == 0, err
    assert f"metrics on http://127.0.0.1:{port}/metrics" in out
    assert answer is not None and answer.status_code == 200
    assert "spacecal_queue_jobs" in answer.text
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    done = [line for line in lines if line["msg"].startswith("reconcile 424242: skipped")]
    assert done and done[0]["logger"] == "spacecal.jobs" and done[0]["trace_id"]
    assert "Traceback" not in err
