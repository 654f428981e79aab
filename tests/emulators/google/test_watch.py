"""events.watch, channels.stop and the notifications spacecal's webhook receives."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx2
from tests.emulators.google.helpers import API, START, Env, make_env

from spacecal.emulators.google import GoogleSettings

HOOK = "http://spacecal.test/webhooks/google"
EVENT = {
    "start": {"dateTime": "2026-12-01T09:00:00Z"},
    "end": {"dateTime": "2026-12-01T10:00:00Z"},
}


async def watch(env: Env, cal: str, channel_id: str, **extra: Any) -> httpx2.Response:
    body = {"id": channel_id, "type": "web_hook", "address": HOOK, **extra}
    return await env.http.post(f"{API}/calendars/{cal}/events/watch", json=body, headers=env.auth)


def goog(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.startswith("x-goog-")}


async def test_watch_answer_and_sync_notification(env: Env) -> None:
    cal = await env.new_calendar()
    r = await watch(env, cal, "chan-1", token="secret-1", params={"ttl": "3600"})
    assert r.status_code == 200, r.text
    body = r.json()
    expiration_ms = int((START + timedelta(seconds=3600)).timestamp() * 1000)
    assert body == {
        "kind": "api#channel",
        "id": "chan-1",
        "resourceId": body["resourceId"],
        "resourceUri": f"{API}/calendars/{cal}/events?alt=json",
        "token": "secret-1",
        "expiration": str(expiration_ms),
    }
    await env.emu.drain()
    assert [goog(h) for h in env.rx.received] == [
        {
            "x-goog-channel-id": "chan-1",
            "x-goog-message-number": "1",
            "x-goog-resource-id": body["resourceId"],
            "x-goog-resource-state": "sync",
            "x-goog-resource-uri": f"{API}/calendars/{cal}/events?alt=json",
            "x-goog-channel-token": "secret-1",
            "x-goog-channel-expiration": "Mon, 23 Nov 2026 09:00:00 GMT",
        }
    ]
    assert env.rx.bodies == [b""]


async def test_every_change_sends_exists_with_increasing_skipping_numbers(env: Env) -> None:
    cal = await env.new_calendar()
    await watch(env, cal, "chan-1")
    ev = env.emu.create_event(cal, EVENT)
    await env.http.patch(
        f"{API}/calendars/{cal}/events/{ev['id']}", json={"summary": "x"}, headers=env.auth
    )
    env.emu.delete_event(cal, ev["id"])
    await env.emu.drain()
    states = [h["x-goog-resource-state"] for h in env.rx.received]
    numbers = [int(h["x-goog-message-number"]) for h in env.rx.received]
    assert states == ["sync", "exists", "exists", "exists"]
    assert numbers[0] == 1
    assert all(b - a >= 2 for a, b in itertools.pairwise(numbers))
    assert all("x-goog-channel-token" not in h for h in env.rx.received)  # none was set


async def test_channel_ids_are_unique_and_old_and_new_overlap(env: Env) -> None:
    cal = await env.new_calendar()
    first = (await watch(env, cal, "chan-1")).json()
    again = await watch(env, cal, "chan-1")
    assert again.status_code == 400
    assert again.json()["error"]["errors"][0]["reason"] == "channelIdNotUnique"
    second = (await watch(env, cal, "chan-2")).json()
    assert second["resourceId"] == first["resourceId"]
    env.emu.create_event(cal, EVENT)
    await env.emu.drain()
    exists = [
        h["x-goog-channel-id"] for h in env.rx.received if h["x-goog-resource-state"] == "exists"
    ]
    assert sorted(exists) == ["chan-1", "chan-2"]


async def test_stop_channel(env: Env) -> None:
    cal = await env.new_calendar()
    ch = (await watch(env, cal, "chan-1")).json()
    wrong = await env.http.post(
        f"{API}/channels/stop", json={"id": "chan-1", "resourceId": "nope"}, headers=env.auth
    )
    assert wrong.status_code == 404
    stop = await env.http.post(
        f"{API}/channels/stop",
        json={"id": "chan-1", "resourceId": ch["resourceId"]},
        headers=env.auth,
    )
    assert stop.status_code == 204 and stop.content == b""
    await env.emu.drain()
    before = len(env.rx.received)
    env.emu.create_event(cal, EVENT)
    await env.emu.drain()
    assert len(env.rx.received) == before
    again = await env.http.post(
        f"{API}/channels/stop",
        json={"id": "chan-1", "resourceId": ch["resourceId"]},
        headers=env.auth,
    )
    assert again.status_code == 404


async def test_expired_channel_goes_silent(env: Env) -> None:
    cal = await env.new_calendar()
    await watch(env, cal, "chan-1", params={"ttl": "60"})
    env.emu.clock.advance(timedelta(seconds=61))
    env.emu.create_event(cal, EVENT)
    await env.emu.drain()
    assert [h["x-goog-resource-state"] for h in env.rx.received] == ["sync"]


async def test_default_ttl_is_a_week(env: Env) -> None:
    cal = await env.new_calendar()
    body = (await watch(env, cal, "chan-1")).json()
    assert int(body["expiration"]) == int((START + timedelta(days=7)).timestamp() * 1000)


async def test_push_not_supported(env: Env) -> None:
    cal = await env.new_calendar()
    env.emu.set_push_supported(cal, False)
    r = await watch(env, cal, "chan-1")
    assert r.status_code == 400
    assert r.json()["error"]["errors"][0]["reason"] == "pushNotSupportedForRequestedResource"


async def test_retries_on_5xx_with_identical_headers(env: Env) -> None:
    env.rx.script = [503, 500]
    cal = await env.new_calendar()
    await watch(env, cal, "chan-1")
    await env.emu.drain()
    assert len(env.rx.received) == 3
    assert env.rx.received[0] == env.rx.received[2]
    outcomes = [(d["attempt"], d["outcome"], d["status"]) for d in env.emu.deliveries()]
    assert outcomes == [(1, "retrying", 503), (2, "retrying", 500), (3, "delivered", 200)]


async def test_sync_can_arrive_before_the_watch_answer() -> None:
    env = make_env()
    env.emu.ctx.settings = GoogleSettings(sync_before_watch_response=True)
    try:
        cal = await env.new_calendar()
        r = await watch(env, cal, "chan-1")
        # Already delivered when the watch call returns, without draining.
        assert r.status_code == 200
        assert [h["x-goog-resource-state"] for h in env.rx.received] == ["sync"]
    finally:
        await env.http.aclose()
        await env.emu.aclose()
