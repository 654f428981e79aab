"""`spacecal emulate microsoft`: the emulator as a real HTTP server in its own process."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx2

SCRIPT = "from spacecal.emulators.server import serve; serve('microsoft', '127.0.0.1', 0, seed=3)"


def test_serve_prints_urls_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        urls = dict(line.split("=", 1) for line in lines)
        assert list(urls) == ["graph", "login", "authorize", "token", "control"]
        base = urls["login"]
        assert urls["graph"] == base + "/v1.0"
        assert urls["authorize"] == base + "/common/oauth2/v2.0/authorize"
        assert urls["token"] == base + "/common/oauth2/v2.0/token"
        with httpx2.Client(timeout=5) as http:
            acct = http.post(urls["control"] + "/accounts", json={"email": "m@x.test"}).json()
            me = http.get(
                urls["graph"] + "/me", headers={"Authorization": f"Bearer {acct['access_token']}"}
            )
            assert me.status_code == 200 and me.json()["mail"] == "m@x.test"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
