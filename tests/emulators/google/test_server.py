"""`serve`: the emulator as a real HTTP server in its own process."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx2
import pytest

from spacecal.emulators.server import build

SCRIPT = "from spacecal.emulators.server import serve; serve('google', '127.0.0.1', 0, seed=3)"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_urls_serves_and_stops_cleanly(stop: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(5)]
        urls = dict(line.split("=", 1) for line in lines)
        assert list(urls) == ["api", "authorize", "token", "revoke", "control"]
        base = urls["control"].removesuffix("/_control")
        assert urls["api"] == base + "/calendar/v3"
        assert urls["authorize"] == base + "/o/oauth2/v2/auth"
        with httpx2.Client(timeout=5) as http:
            acct = http.post(urls["control"] + "/accounts", json={"email": "m@x.test"}).json()
            r = http.get(
                urls["api"] + "/users/me/calendarList",
                headers={"Authorization": f"Bearer {acct['access_token']}"},
            )
            assert r.status_code == 200
        proc.send_signal(stop)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown emulator"):
        build("yahoo", "http://x.test")
