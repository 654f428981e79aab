"""Throttling (429 + Retry-After, the 4-concurrent-requests limit) and seeded faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx2

from spacecal.emulators.common import EmulatorClock, FaultKind
from spacecal.emulators.microsoft import MicrosoftEmulator


async def test_fifth_concurrent_request_answers_429(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    emu.set_concurrency_limit(4, hold_seconds=0.2, retry_after=3)
    answers = await asyncio.gather(
        *(http.get("/v1.0/me/calendars", headers=member.auth) for _ in range(5))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 200, 200, 429]
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    # Another mailbox is not affected; and after the burst the mailbox answers again.
    other = emu.create_account("zed@example.com")
    solo = await http.get("/v1.0/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert solo.status_code == 200
    assert (await http.get("/v1.0/me", headers=member.auth)).status_code == 200


async def test_limit_is_off_by_default(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    emu.set_concurrency_limit(None, hold_seconds=0.05)
    answers = await asyncio.gather(*(http.get("/v1.0/me", headers=member.auth) for _ in range(8)))
    assert {a.status_code for a in answers} == {200}


async def test_limit_switched_on_through_control_api(http: httpx2.AsyncClient, member: Any) -> None:
    switched = await http.post(
        "/_control/microsoft/throttle", json={"limit": 1, "hold_seconds": 0.1}
    )
    assert switched.json()["limit"] == 1
    answers = await asyncio.gather(*(http.get("/v1.0/me", headers=member.auth) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 429]


async def test_http_429_fault_has_retry_after_and_graph_body(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    emu.faults.add(FaultKind.HTTP_429, times=1, path="/v1.0/me/calendars", retry_after=7)
    throttled = await http.get("/v1.0/me/calendars", headers=member.auth)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert (await http.get("/v1.0/me/calendars", headers=member.auth)).status_code == 200
    calls = emu.calls.list(account=member.email, path_prefix="/v1.0/me/calendars")
    assert [(c.status, c.fault) for c in calls[-2:]] == [(429, "http_429"), (200, None)]


async def _fault_trace(seed: int) -> list[int]:
    emu = MicrosoftEmulator(
        seed=seed, clock=EmulatorClock(datetime(2026, 11, 21, tzinfo=UTC), frozen=True)
    )
    acc = emu.create_account("r@example.com")
    emu.faults.add(FaultKind.HTTP_5XX, probability=0.5, status=503)
    headers = {"Authorization": f"Bearer {acc['access_token']}"}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=emu.app), base_url=emu.base_url
    ) as client:
        statuses = [(await client.get("/v1.0/me", headers=headers)).status_code for _ in range(24)]
    await emu.aclose()
    return statuses


async def test_faults_are_reproducible_from_the_seed() -> None:
    first, again, other = await _fault_trace(5), await _fault_trace(5), await _fault_trace(6)
    assert first == again
    assert set(first) == {200, 503}
    assert first != other


async def test_ids_and_tokens_are_reproducible_from_the_seed() -> None:
    clock = EmulatorClock(datetime(2026, 11, 21, tzinfo=UTC), frozen=True)
    emulators = [MicrosoftEmulator(seed=s, clock=clock) for s in (3, 3, 4)]
    a, b, c = (e.create_account("x@example.com") for e in emulators)
    for emulator in emulators:
        await emulator.aclose()
    assert a == b
    assert a["default_calendar_id"] != c["default_calendar_id"]
