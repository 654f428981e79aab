"""The control API over HTTP: accounts and tokens, clock, member actions, logs."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.emulators.google.helpers import API, BASE, Env

CONTROL = BASE + "/_control"
SYNC = {"singleEvents": "true", "showDeleted": "true"}


async def test_account_and_tokens_without_a_browser(env: Env) -> None:
    r = await env.http.post(f"{CONTROL}/accounts", json={"email": "Other@Example.com"})
    assert r.status_code == 201, r.text
    acct = r.json()
    assert acct["email"] == "other@example.com" and acct["refresh_token"]
    me = await env.http.get(
        f"{BASE}/oauth2/v3/userinfo", headers={"Authorization": f"Bearer {acct['access_token']}"}
    )
    assert me.json()["email"] == "other@example.com"
    more = await env.http.post(f"{CONTROL}/accounts/other@example.com/tokens", json={})
    assert more.status_code == 200 and more.json()["access_token"] != acct["access_token"]
    assert (
        await env.http.post(f"{CONTROL}/accounts/nobody@x.test/tokens", json={})
    ).status_code == 404
    revoked = await env.http.post(f"{CONTROL}/accounts/other@example.com/revoke", json={})
    assert revoked.json() == {"revoked": 2}


async def test_clock_get_set_advance(env: Env) -> None:
    now = (await env.http.get(f"{CONTROL}/clock")).json()
    assert now == {"now": "2026-11-23T08:00:00+00:00", "frozen": True}
    r = await env.http.post(f"{CONTROL}/clock", json={"advance_seconds": 3600})
    assert r.json()["now"] == "2026-11-23T09:00:00+00:00"
    r = await env.http.post(f"{CONTROL}/clock", json={"set": "2027-01-01T00:00:00Z"})
    assert env.emu.clock.now() == datetime(2027, 1, 1, tzinfo=UTC)
    assert (
        await env.http.post(f"{CONTROL}/clock", json={"set": "2027-01-01T00:00:00"})
    ).status_code == 400


async def test_member_actions_through_control(env: Env) -> None:
    cal = await env.new_calendar()
    _, token = await env.pull(cal, **SYNC)
    created = await env.http.post(
        f"{CONTROL}/calendars/{cal}/events",
        json={
            "summary": "Weekly",
            "start": {"dateTime": "2026-11-30T10:00:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-11-30T11:00:00", "timeZone": "Europe/Paris"},
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
        },
    )
    assert created.status_code == 201, created.text
    series = created.json()["id"]
    moved = await env.http.post(
        f"{CONTROL}/calendars/{cal}/events/{series}/instances/move",
        json={
            "original_start": "2026-12-07T10:00:00+01:00",
            "start": {"dateTime": "2026-12-07T15:00:00+01:00"},
            "end": {"dateTime": "2026-12-07T16:00:00+01:00"},
        },
    )
    assert moved.status_code == 200 and moved.json()["id"] == f"{series}_20261207T090000Z"
    cancelled = await env.http.post(
        f"{CONTROL}/calendars/{cal}/events/{series}/instances/cancel",
        json={"original_start": "2026-12-14T09:00:00Z"},
    )
    assert cancelled.json()["status"] == "cancelled"
    edited = await env.http.patch(
        f"{CONTROL}/calendars/{cal}/events/{series}", json={"summary": "Renamed"}
    )
    assert edited.json()["summary"] == "Renamed"
    changes, _ = await env.pull(cal, **SYNC, syncToken=token)
    assert {c["status"] for c in changes} == {"confirmed", "cancelled"} and len(changes) == 3
    gone = await env.http.delete(f"{CONTROL}/calendars/{cal}/events/{series}")
    assert gone.status_code == 204
    missing = await env.http.patch(
        f"{CONTROL}/calendars/{cal}/events/nosuch", json={"summary": "x"}
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


async def test_expire_tokens_and_push_switch_through_control(env: Env) -> None:
    cal = await env.new_calendar()
    _, token = await env.pull(cal, **SYNC)
    r = await env.http.post(f"{CONTROL}/sync-tokens/expire", json={"calendar_id": cal})
    assert r.json() == {"expired": 1}
    assert (await env.list(cal, **SYNC, syncToken=token)).status_code == 410
    await env.http.post(f"{CONTROL}/calendars/{cal}/push", json={"supported": False})
    w = await env.http.post(
        f"{API}/calendars/{cal}/events/watch",
        json={"id": "c1", "type": "web_hook", "address": "http://spacecal.test/webhooks/google"},
        headers=env.auth,
    )
    assert w.status_code == 400


async def test_calls_and_channels_are_listed(env: Env) -> None:
    cal = await env.new_calendar()
    await env.http.post(
        f"{API}/calendars/{cal}/events/watch",
        json={"id": "c1", "type": "web_hook", "address": "http://spacecal.test/webhooks/google"},
        headers=env.auth,
    )
    calls = (await env.http.get(f"{CONTROL}/calls", params={"account": env.email})).json()
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/calendar/v3/calendars", 200),
        ("POST", f"/calendar/v3/calendars/{cal}/events/watch", 200),
    ]
    channels = (await env.http.get(f"{CONTROL}/channels")).json()
    assert [(c["id"], c["live"]) for c in channels] == [("c1", True)]
    await env.http.delete(f"{CONTROL}/calls")
    assert (await env.http.get(f"{CONTROL}/calls")).json() == []
    calendars = (await env.http.get(f"{CONTROL}/calendars", params={"email": env.email})).json()
    assert {c["id"] for c in calendars} == {env.email, cal}


async def test_unknown_email_on_consent_creates_the_account(env: Env) -> None:
    page = await env.http.get(
        f"{BASE}/o/oauth2/v2/auth",
        params={
            "client_id": "spacecal-emulator.apps.googleusercontent.com",
            "redirect_uri": "http://anything.test/cb",
            "response_type": "code",
            "scope": "openid email",
        },
    )
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id is not None
    r = await env.http.post(
        f"{BASE}/o/oauth2/v2/auth/decision",
        data={"request_id": request_id.group(1), "email": "new@x.test", "decision": "allow"},
    )
    assert r.status_code == 302 and "code=" in r.headers["location"]
    assert "state" not in r.headers["location"]
