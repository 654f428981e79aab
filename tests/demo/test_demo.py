"""`spacecal demo` as a newcomer runs it: a real subprocess, its narration read live,
the printed curl actually run while the demo is up, then Ctrl-C (SIGINT) and a clean
exit with the embedded database stopped and the data directory gone."""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import psutil

SPACECAL = [sys.executable, "-m", "spacecal.cli"]
STARTUP_BUDGET = 90.0  # seconds until the curl line; the demo takes ~10 s here


def _reader(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _run_curl(line: str) -> dict[str, object]:
    argv = shlex.split(line.strip())
    assert argv[0] == "curl"
    if shutil.which("curl"):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        import json

        return dict(json.loads(done.stdout))
    header = argv[argv.index("-H") + 1]
    name, _, value = header.partition(": ")
    answer = httpx2.get(argv[-1], headers={name: value}, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_demo_narrates_serves_and_stops_cleanly() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
    env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/ignored"  # the demo ignores it
    proc = subprocess.Popen(
        [*SPACECAL, "demo", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + STARTUP_BUDGET
        while not any(line.strip().startswith("curl ") for line in seen):
            left = deadline - time.monotonic()
            assert left > 0, "no curl line in time:\n" + "\n".join(seen)
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, "the demo exited early:\n" + "\n".join(seen)
            seen.append(line)
        text = "\n".join(seen)
        stamp = r"^\d\d:\d\d:\d\d\.\d{3}  "
        assert re.search(stamp + r"Starting the embedded database", text, re.M), text
        assert re.search(r"booked \(booking \d+\) \d+ ms after her change \(via Google\)", text), (
            text
        )
        assert re.search(
            r"booked \(booking \d+\) \d+ ms after her change \(via Microsoft\)", text
        ), text
        assert re.search(r"refused and marked, \d+ ms .*Reason: .*Meeting Room A is taken", text)
        assert "Alice now sees the title: ⚠ Not booked: Design review" in text
        assert re.search(r"booking \d+ is in both of her calendars", text), text
        assert re.search(r"Google event\s+[a-v0-9]{5,}\s", text), text
        assert re.search(r"Microsoft event\s+\S{10,}\s", text), text
        assert re.search(r"sign in as alice@example\.com with password \S+", text), text
        assert "/portal/signin/link/" in text
        assert re.search(r"Admin API token:\s+\S+", text), text
        data_dir = Path(re.search(r"embedded database in (\S+)…", text).group(1))  # type: ignore[union-attr]
        assert data_dir.is_dir()

        # The printed curl works while the demo runs, and returns the record.
        curl = next(line for line in seen if line.strip().startswith("curl "))
        record = _run_curl(curl)
        connection_id = int(curl.rstrip().rsplit("/", 1)[1])
        assert record["Id"] == connection_id
        assert "Meeting Room A" in str(record.get("Name")), record

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rest: list[str] = []
    while (line := lines.get(timeout=10)) is not None:
        rest.append(line)
    tail = "\n".join(rest)
    assert "Stopping the embedded database" in tail, tail
    assert rest[-1].endswith("Stopped."), tail
    assert not data_dir.exists()
    leftovers = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(data_dir) in " ".join(p.info["cmdline"] or []):
                leftovers.append(p.pid)
        except psutil.Error:
            pass
    assert not leftovers, f"processes still using {data_dir}: {leftovers}"
