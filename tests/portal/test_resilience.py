"""Failures half-way, disconnect, revoked consent: nothing orphaned, nothing looping."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from tests.support.bookings import (
    EMAIL,
    RECORDS,
    _book_via_api,
    calendars,
    live_subscriptions,
)
from tests.support.environments import Env
from tests.support.portal import GOOGLE, MICROSOFT, find_form

from spacecal.db.models import Booking, Connection, ProviderAccount, SubscriptionGeneration

WATCH_PATH = {
    "google": (GOOGLE, "/calendar/v3/calendars/*/events/watch"),
    "microsoft": (MICROSOFT, "/v1.0/subscriptions"),
}


async def _connected(env: Env, provider: str) -> None:
    await env.browser.sign_in("alice@example.com")
    page = await env.browser.connect(provider, EMAIL[provider])
    assert "is connected" in page.text, page.text


async def _add(env: Env, provider: str, resource: int) -> str:
    await env.browser.get("/portal")
    page = await env.browser.post_form(f"/portal/resources/{resource}/{provider}", action="add")
    return page.text


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_subscribe_failure_then_retry_gives_one_calendar_and_one_subscription(
    env: Env, provider: str
) -> None:
    await _connected(env, provider)
    base, path = WATCH_PATH[provider]
    await env.fault(
        base,
        {
            "kind": "http_5xx",
            "times": 1,
            "params": {"status": 500},
            "match": {"method": "POST", "path": path},
        },
    )
    text = await _add(env, provider, env.space.room_id)
    assert "did not complete the set-up" in text
    assert len(await calendars(env, provider)) == 1
    assert await live_subscriptions(env, provider) == []
    page = await env.browser.get("/portal")
    assert "Set-up did not finish" in page.text and "Try again" in page.text
    text = await _add(env, provider, env.space.room_id)
    assert "Added" in text, text
    assert len(await calendars(env, provider)) == 1
    assert len(await live_subscriptions(env, provider)) == 1
    records = await env.records(RECORDS[provider])
    assert len(records) == 1 and records[0]["Health"] == "healthy"


async def test_crash_before_the_calendar_id_is_stored_adopts_the_leftover(env: Env) -> None:
    await _connected(env, "google")

    async def crash(step: str) -> None:
        if step == "calendar_created":
            raise RuntimeError("process died")

    env.rt.step_hook = crash
    with pytest.raises(RuntimeError):
        await _add(env, "google", env.space.room_id)
    env.rt.step_hook = None
    assert len(await calendars(env, "google")) == 1
    text = await _add(env, "google", env.space.room_id)
    assert "Added" in text
    assert len(await calendars(env, "google")) == 1
    assert len(await live_subscriptions(env, "google")) == 1


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_disconnect_stops_every_subscription_and_keeps_bookings(
    env: Env, provider: str
) -> None:
    booking = await _book_via_api(env)
    await _connected(env, provider)
    for resource in (env.space.room_id, env.space.desk_id):
        await _add(env, provider, resource)
    assert len(await live_subscriptions(env, provider)) == 2
    await env.browser.get("/portal")
    page = await env.browser.post_form(f"/portal/accounts/{provider}/disconnect")
    assert "Disconnected" in page.text
    assert await live_subscriptions(env, provider) == []
    assert await env.records(RECORDS[provider]) == []
    assert len(await calendars(env, provider)) == 2  # kept by default
    async with env.rt.db.engine.connect() as conn:
        assert await conn.scalar(select(Booking.cancelled_at).where(Booking.id == booking)) is None
        statuses = set((await conn.scalars(select(SubscriptionGeneration.status))).all())
    assert statuses == {"stopped"}
    # Reconnecting and adding again adopts the calendars made before: no second copies.
    page = await env.browser.connect(provider, EMAIL[provider])
    assert "is connected" in page.text
    await _add(env, provider, env.space.room_id)
    assert len(await calendars(env, provider)) == 2
    assert len(await live_subscriptions(env, provider)) == 1


async def test_remove_resource_and_api_delete_stop_push(env: Env) -> None:
    await _connected(env, "google")
    await _add(env, "google", env.space.room_id)
    await _add(env, "google", env.space.desk_id)
    await env.browser.get("/portal")
    page = await env.browser.post_form(
        f"/portal/resources/{env.space.desk_id}/google", action="remove"
    )
    assert "Removed" in page.text
    assert len(await live_subscriptions(env, "google")) == 1
    record = (await env.records(RECORDS["google"]))[0]
    answer = await env.api.delete(f"/api/spaces/coworkergooglecalendars/{record['Id']}")
    assert answer.status_code == 200, answer.text
    assert await live_subscriptions(env, "google") == []


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_revoked_consent_needs_reconnect_without_a_retry_storm(
    env: Env, provider: str
) -> None:
    await _connected(env, provider)
    await _add(env, provider, env.space.room_id)
    base = GOOGLE if provider == "google" else MICROSOFT
    revoke = (
        f"{base}/_control/accounts/{EMAIL[provider]}/revoke"
        if provider == "google"
        else f"{base}/_control/microsoft/accounts/{EMAIL[provider]}/revoke-consent"
    )
    answer = await env.control.post(revoke, json={})
    assert answer.status_code in (200, 204), answer.text
    await env.control.delete(base + "/_control/calls")
    text = await _add(env, provider, env.space.desk_id)
    assert "withdrawn" in text, text
    for _ in range(3):  # the switches are gone; a POST anyway is refused without calls
        page = await env.browser.get("/portal")
        csrf = find_form(page.text, "/portal/signout").fields["csrf_token"]
        answer = await env.browser.http.post(
            f"http://spacecal.test/portal/resources/{env.space.desk_id}/{provider}",
            data={"csrf_token": csrf, "action": "add"},
        )
        assert "connected again" in answer.text, answer.text
    calls = (await env.control.get(base + "/_control/calls")).json()
    calls = calls if isinstance(calls, list) else calls.get("calls", [])
    token_calls = [c for c in calls if c["path"].endswith("/token")]
    assert len(token_calls) <= 1
    assert len(calls) <= 3  # one 401, one refresh: then nothing more
    records = await env.records(RECORDS[provider])
    # The room, and the desk the member asked for while the consent was gone.
    assert [r["NeedsReconnect"] for r in records] == [True, True]
    page = await env.browser.get("/portal")
    assert "Needs reconnecting" in page.text
    async with env.rt.db.engine.connect() as conn:
        status = await conn.scalar(select(ProviderAccount.status))
    assert status == "needs_reconnect"
    # Connecting again reattaches the same calendar and watches it again.
    page = await env.browser.connect(provider, EMAIL[provider])
    assert "is connected" in page.text, page.text
    records = await env.records(RECORDS[provider])
    assert [r["Health"] for r in records] == ["healthy", "healthy"]
    assert [r["NeedsReconnect"] for r in records] == [False, False]
    assert len(await calendars(env, provider)) == 2  # the room's reattached, the desk's new
    assert len(await live_subscriptions(env, provider)) == 2


async def test_expired_access_token_is_refreshed_and_stored(env: Env) -> None:
    await _connected(env, "microsoft")
    async with env.rt.db.engine.begin() as conn:
        before = await conn.scalar(select(ProviderAccount.refresh_token_enc))
        await conn.execute(update(ProviderAccount).values(access_token_expires_at=None))
    assert "Added" in await _add(env, "microsoft", env.space.room_id)
    async with env.rt.db.engine.connect() as conn:
        after = await conn.scalar(select(ProviderAccount.refresh_token_enc))
        health = await conn.scalar(select(Connection.health))
    assert health == "healthy"
    # Microsoft rotates refresh tokens: the new one was stored.
    assert env.rt.db.cipher.decrypt(after) != env.rt.db.cipher.decrypt(before)
