"""The Google emulator's per-user limits (emulators/google/limits.py): calendar usage
limits (quotaExceeded, the account read-only for a while) and the per-user rate."""

from __future__ import annotations

from datetime import timedelta

from .helpers import API, BASE, Env


async def _set(env: Env, **body: object) -> None:
    r = await env.http.post(BASE + "/_control/limits", json=body)
    assert r.status_code == 200, r.text


def _reason(body: dict[str, object]) -> tuple[str, str, str]:
    error = body["error"]
    assert isinstance(error, dict)
    item = error["errors"][0]
    return item["domain"], item["reason"], item["message"]


async def test_calendar_creation_limit_makes_the_account_read_only(env: Env) -> None:
    await _set(
        env, calendar_create_limit=2, calendar_create_period_seconds=3600, read_only_seconds=600
    )
    first = await env.new_calendar("One")
    await env.new_calendar("Two")
    third = await env.http.post(f"{API}/calendars", json={"summary": "Three"}, headers=env.auth)
    assert third.status_code == 403
    assert _reason(third.json()) == (
        "usageLimits",
        "quotaExceeded",
        "Calendar usage limits exceeded.",
    )
    # Every write of the account answers the same; reads go on.
    event = {
        "summary": "x",
        "start": {"dateTime": "2026-11-24T10:00:00Z"},
        "end": {"dateTime": "2026-11-24T11:00:00Z"},
    }
    write = await env.http.post(f"{API}/calendars/{first}/events", json=event, headers=env.auth)
    assert write.status_code == 403 and _reason(write.json())[1] == "quotaExceeded"
    assert (await env.list(first)).status_code == 200
    assert env.emu.limits.read_only_until(env.email) is not None
    # The lock ends after the configured period, on the emulator's clock.
    env.emu.clock.advance(timedelta(minutes=10, seconds=1))
    write = await env.http.post(f"{API}/calendars/{first}/events", json=event, headers=env.auth)
    assert write.status_code == 200, write.text
    assert env.emu.limits.read_only_until(env.email) is None


async def test_per_user_rate_limit(env: Env) -> None:
    cal = await env.new_calendar()
    await _set(env, requests_per_minute=3)
    answers = [(await env.list(cal)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 403]
    refused = await env.list(cal)
    assert _reason(refused.json()) == (
        "usageLimits",
        "userRateLimitExceeded",
        "User Rate Limit Exceeded",
    )
    assert "retry-after" not in refused.headers
    env.emu.clock.advance(timedelta(minutes=1, seconds=1))
    assert (await env.list(cal)).status_code == 200
