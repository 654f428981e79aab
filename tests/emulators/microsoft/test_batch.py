"""JSON batching (`POST /v1.0/$batch`): at most 20 requests, each served and logged as
itself, a per-item 429 when the mailbox's 4 concurrent requests are taken, and
`dependsOn` run in order (424 after a failed dependency)."""

from __future__ import annotations

from typing import Any

import httpx2

from spacecal.emulators.microsoft import MicrosoftEmulator


def _get(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": str(n), "method": "GET", "url": "/me/calendars", **extra}


async def test_more_than_twenty_requests_is_a_400(http: httpx2.AsyncClient, member: Any) -> None:
    answer = await http.post(
        "/v1.0/$batch", json={"requests": [_get(n) for n in range(21)]}, headers=member.auth
    )
    assert answer.status_code == 400
    assert "20" in answer.json()["error"]["message"]


async def test_each_request_is_logged_and_throttled_alone(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    before = len(emu.calls.list(account=member.email, path_prefix="/v1.0/me/calendars"))
    emu.set_concurrency_limit(4, hold_seconds=0.2, retry_after=2)
    answer = await http.post(
        "/v1.0/$batch", json={"requests": [_get(n) for n in range(6)]}, headers=member.auth
    )
    assert answer.status_code == 200
    responses = answer.json()["responses"]
    assert [r["id"] for r in responses] == [str(n) for n in range(6)]
    assert sorted(r["status"] for r in responses) == [200, 200, 200, 200, 429, 429]
    throttled = [r for r in responses if r["status"] == 429]
    assert all(r["headers"]["Retry-After"] == "2" for r in throttled)
    assert all(r["body"]["error"]["code"] == "ApplicationThrottled" for r in throttled)
    calls = emu.calls.list(account=member.email, path_prefix="/v1.0/me/calendars")
    assert len(calls) - before == 6  # six requests against the mailbox, not one


async def test_depends_on_runs_in_order(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    emu.set_concurrency_limit(None)
    requests = [
        {"id": "1", "method": "GET", "url": "/me/calendars/nope"},
        _get(2, dependsOn=["1"]),
        _get(3),
    ]
    answer = await http.post("/v1.0/$batch", json={"requests": requests}, headers=member.auth)
    statuses = {r["id"]: r["status"] for r in answer.json()["responses"]}
    assert statuses == {"1": 404, "2": 424, "3": 200}
