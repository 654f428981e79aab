"""Connect both providers and add resources through the pages; check the emulators'
state and the records through the API. Denied consent, forged and replayed states."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from tests.support.bookings import (
    EMAIL,
    RECORDS,
    _book_via_api,
    _events,
    calendars,
    live_subscriptions,
)
from tests.support.environments import Env
from tests.support.portal import find_form

from spacecal.db.models import ProviderAccount


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_connect_and_add_resources(env: Env, provider: str) -> None:
    booking = await _book_via_api(env)
    b = env.browser
    await b.sign_in("alice@example.com")
    page = await b.connect(provider, EMAIL[provider])
    assert page.url.path == "/portal" and "is connected" in page.text, page.text
    assert EMAIL[provider] in page.text
    for resource in (env.space.room_id, env.space.desk_id):
        page = await b.post_form(f"/portal/resources/{resource}/{provider}", action="add")
        assert "Added" in page.text, page.text
    # The provider: two calendars named after the resources, one live push each.
    cals = await calendars(env, provider)
    names = sorted(c.get("summary") or c.get("name") for c in cals)
    assert names == ["Desk 1 · Riverside", "Meeting Room A · Riverside"]
    assert len(await live_subscriptions(env, provider)) == 2
    # The records, through the API.
    records = await env.records(RECORDS[provider])
    assert len(records) == 2
    room = next(r for r in records if r["ResourceId"] == env.space.room_id)
    assert room["Name"] == "Meeting Room A · Riverside"
    assert room["CoworkerId"] == env.space.alice
    assert room["CalendarId"] and room["SubscriptionId"] and room["SubscriptionExpireDate"]
    assert room["NeedsReconnect"] is False and room["Health"] == "healthy"
    if provider == "google":
        assert room["WatchResourceId"] and room["EventSyncToken"]
    # The existing future booking was written into the room's calendar, once.
    events = await _events(env, provider, room["CalendarId"])
    assert len(events) == 1
    assert (events[0].get("summary") or events[0].get("subject")) == "Meeting Room A"
    got = (await env.api.get(f"/api/spaces/bookings/{booking}")).json()
    event_field = "GoogleEventId" if provider == "google" else "Office365EventId"
    assert got[event_field] == events[0]["id"]
    # No secret in any record.
    text = str(records)
    async with env.rt.db.engine.connect() as conn:
        enc = await conn.scalar(select(ProviderAccount.refresh_token_enc))
    assert enc is not None and b"refresh" not in enc
    assert "token" not in text.lower().replace("eventsynctoken", "")


async def test_denied_consent_creates_nothing(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    page = await b.connect("google", EMAIL["google"], decision="deny")
    assert "did not allow" in page.text
    async with env.rt.db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ProviderAccount)) == 0
    assert 'id="connect-google"' in page.text


async def _callback_url(env: Env) -> str:
    """Consent in the emulator without following the redirect back to spacecal."""
    b = env.browser
    await b.get("/portal")
    form = find_form(b.page.text, "/portal/connect/google")
    consent = await b.submit(form)
    emu_form = find_form(consent.text, "decision")
    answer = await b.http.post(
        "http://google.emulator.test" + emu_form.action,
        data={**emu_form.fields, "email": EMAIL["google"], "decision": "allow"},
        follow_redirects=False,
    )
    assert answer.status_code in (302, 303)
    return answer.headers["location"]


async def test_forged_and_replayed_state(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    url = await _callback_url(env)
    query = parse_qs(urlsplit(url).query)
    forged = url.replace(query["state"][0], "forged-" + query["state"][0][:20])
    page = await b.get(forged)
    assert "not valid any more" in page.text
    async with env.rt.db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ProviderAccount)) == 0
    page = await b.get(url)
    assert "is connected" in page.text
    page = await b.get(url)  # replay: the state is used up
    assert "not valid any more" in page.text


async def test_state_of_another_member_is_refused(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    url = await _callback_url(env)
    other = env.new_browser()
    await other.sign_in("bob@example.com")
    page = await other.get(url)
    assert "not valid any more" in page.text
    async with env.rt.db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(ProviderAccount)) == 0
    await other.aclose()


async def test_unconfigured_provider_names_the_missing_settings(
    settings, database, member_password_hash
) -> None:
    from tests.support.environments import make_env

    async for env in make_env(settings, database, member_password_hash, microsoft_client_id=None):
        await env.browser.sign_in("alice@example.com")
        page = await env.browser.get("/portal")
        assert "SPACECAL_MICROSOFT_CLIENT_ID" in page.text
        assert 'id="connect-microsoft"' not in page.text
        assert 'id="connect-google"' in page.text
