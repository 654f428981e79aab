"""Every fault kind as a client sees it, switched on through the control API,
and reproducible from the seed."""

from __future__ import annotations

import time
from typing import Any

from tests.emulators.google.helpers import API, BASE, Env, make_env

CONTROL = BASE + "/_control"
EVENT = {
    "start": {"dateTime": "2026-12-01T09:00:00Z"},
    "end": {"dateTime": "2026-12-01T10:00:00Z"},
}


async def add_fault(env: Env, kind: str, **spec: Any) -> dict[str, Any]:
    r = await env.http.post(f"{CONTROL}/faults", json={"kind": kind, **spec})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_429_with_retry_after_for_the_next_call_only(env: Env) -> None:
    await add_fault(
        env, "http_429", times=1, match={"path": "/calendar/v3/*"}, params={"retry_after": 7}
    )
    first = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert first.status_code == 429 and first.headers["retry-after"] == "7"
    assert first.json()["error"]["errors"][0] == {
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
        "message": "Rate Limit Exceeded",
    }
    second = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert second.status_code == 200
    calls = (await env.http.get(f"{CONTROL}/calls")).json()
    assert [(c["status"], c["fault"], c["account"]) for c in calls] == [
        (429, "http_429", env.email),
        (200, None, env.email),
    ]


async def test_403_rate_limit_and_user_rate_limit(env: Env) -> None:
    await add_fault(env, "http_403_rate_limit", times=1)
    await add_fault(env, "http_403_rate_limit", times=1, params={"reason": "userRateLimitExceeded"})
    a = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    b = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert a.status_code == b.status_code == 403
    assert a.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert b.json()["error"]["errors"][0]["reason"] == "userRateLimitExceeded"


async def test_5xx_matches_method_and_account(env: Env) -> None:
    await add_fault(
        env,
        "http_5xx",
        times=1,
        match={"method": "POST", "account": env.email},
        params={"status": 503},
    )
    ok = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert ok.status_code == 200
    failed = await env.http.post(f"{API}/calendars", json={"summary": "x"}, headers=env.auth)
    assert failed.status_code == 503
    assert failed.json()["error"]["errors"][0]["reason"] == "backendError"
    # The failed call changed nothing.
    listed = (await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)).json()
    assert len(listed["items"]) == 1


async def test_slow_answer(env: Env) -> None:
    await add_fault(env, "slow", times=1, params={"seconds": 0.2})
    started = time.monotonic()
    r = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert r.status_code == 200 and time.monotonic() - started >= 0.2


async def test_control_api_is_never_faulted(env: Env) -> None:
    await add_fault(env, "http_5xx")
    assert (await env.http.get(f"{CONTROL}/faults")).status_code == 200
    assert (await env.http.delete(f"{CONTROL}/faults")).status_code == 204
    assert (await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)).status_code == 200


async def test_notification_faults(env: Env) -> None:
    cal = await env.new_calendar()
    await env.http.post(
        f"{API}/calendars/{cal}/events/watch",
        json={
            "id": "chan-1",
            "type": "web_hook",
            "address": "http://spacecal.test/webhooks/google",
        },
        headers=env.auth,
    )
    await env.http.post(f"{CONTROL}/drain")
    await add_fault(env, "drop_notification", times=1)
    env.emu.create_event(cal, EVENT)  # dropped
    await add_fault(env, "delay_notification", times=1, params={"seconds": 0.05})
    env.emu.create_event(cal, EVENT)  # delayed: arrives last
    await add_fault(env, "duplicate_notification", times=1)
    env.emu.create_event(cal, EVENT)  # twice
    await env.http.post(f"{CONTROL}/drain")
    deliveries = (await env.http.get(f"{CONTROL}/deliveries", params={"channel": "chan-1"})).json()
    outcomes = [(d["outcome"], d["duplicate"], d["delayed_seconds"] > 0) for d in deliveries]
    assert outcomes == [
        ("delivered", False, False),  # sync
        ("dropped", False, False),
        ("delivered", False, False),  # third change
        ("delivered", True, False),  # its duplicate
        ("delivered", False, True),  # second change, overtaken
    ]
    numbers = [int(h["x-goog-message-number"]) for h in env.rx.received]
    assert numbers[1] == numbers[2] and numbers[3] < numbers[1]  # duplicate, then reordered


async def scenario(seed: int) -> tuple[list[Any], list[Any], list[str]]:
    env = make_env(seed=seed)
    try:
        env.emu.faults.add("http_5xx", probability=0.3, path="/calendar/v3/*")
        env.emu.faults.add("drop_notification", probability=0.3)
        env.emu.faults.add("duplicate_notification", probability=0.3)
        event_id = env.emu.create_event(env.email, EVENT)["id"]
        await env.http.post(
            f"{API}/calendars/primary/events/watch",
            json={"id": "c", "type": "web_hook", "address": "http://spacecal.test/webhooks/google"},
            headers=env.auth,
        )
        statuses = []
        for n in range(20):
            r = await env.http.patch(
                f"{API}/calendars/primary/events/{event_id}",
                json={"summary": str(n)},
                headers=env.auth,
            )
            statuses.append(r.status_code)
        await env.emu.drain()
        outcomes = [
            (d["outcome"], d["duplicate"], d["headers"]["X-Goog-Message-Number"])
            for d in env.emu.deliveries()
        ]
        return statuses, outcomes, [env.token, event_id]
    finally:
        await env.http.aclose()
        await env.emu.aclose()


async def test_runs_are_reproducible_from_the_seed() -> None:
    first = await scenario(11)
    assert first == await scenario(11)
    other = await scenario(12)
    assert first != other
    statuses, outcomes, _ = first
    assert 503 not in statuses and {200, 500} <= set(statuses)
    assert {o[0] for o in outcomes} >= {"delivered", "dropped"}


async def test_a_lost_response_keeps_the_write_and_answers_5xx(env: Env) -> None:
    await add_fault(env, "lost_response", times=1, match={"method": "POST"})
    created = await env.http.post(
        f"{API}/calendars/primary/events", headers=env.auth, json={**EVENT, "id": "lost0001"}
    )
    assert created.status_code == 504
    # The event was made all the same: a retry with the same id answers 409.
    again = await env.http.post(
        f"{API}/calendars/primary/events", headers=env.auth, json={**EVENT, "id": "lost0001"}
    )
    assert again.status_code == 409
    calls = (await env.http.get(f"{CONTROL}/calls")).json()
    assert [(c["status"], c["fault"]) for c in calls[-2:]] == [(504, "lost_response"), (409, None)]
