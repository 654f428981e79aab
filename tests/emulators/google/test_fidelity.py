"""Issue 18 items 1-3: events.instances, bounded series beyond the 730-day horizon,
and the primary calendar of an account first seen on the consent page."""

from __future__ import annotations

from dataclasses import replace

from tests.emulators.google.helpers import API, APP_CREATED, Env
from tests.emulators.google.test_oauth import REDIRECT, SECRET, consent, exchange

CLIENT = "spacecal-test"
PARIS = "Europe/Paris"
WEEKLY = {
    "summary": "Team sync",
    "start": {"dateTime": "2026-11-30T10:00:00", "timeZone": PARIS},
    "end": {"dateTime": "2026-11-30T11:00:00", "timeZone": PARIS},
    "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
}


async def test_instances_lists_a_series_with_paging_and_filters(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    series = env.emu.create_event(cal, WEEKLY)["id"]
    env.emu.cancel_instance(cal, series, "20261214T090000Z")
    url = f"{API}/calendars/{cal}/events/{series}/instances"
    first = await env.http.get(url, params={"maxResults": "2"}, headers=env.auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["kind"] == "calendar#events" and "nextSyncToken" not in body
    assert [i["id"] for i in body["items"]] == [
        f"{series}_20261130T090000Z",
        f"{series}_20261207T090000Z",
    ]
    rest = await env.http.get(
        url, params={"maxResults": "2", "pageToken": body["nextPageToken"]}, headers=env.auth
    )
    # The cancelled instance is left out without showDeleted.
    assert [i["id"] for i in rest.json()["items"]] == [f"{series}_20261221T090000Z"]
    assert "nextPageToken" not in rest.json()
    deleted = await env.http.get(url, params={"showDeleted": "true"}, headers=env.auth)
    assert [i["status"] for i in deleted.json()["items"]].count("cancelled") == 1
    one = await env.http.get(
        url, params={"originalStart": "2026-12-07T10:00:00+01:00"}, headers=env.auth
    )
    assert [i["id"] for i in one.json()["items"]] == [f"{series}_20261207T090000Z"]
    window = await env.http.get(
        url,
        params={"timeMin": "2026-12-07T09:30:00Z", "timeMax": "2026-12-21T00:00:00Z"},
        headers=env.auth,
    )
    assert [i["id"] for i in window.json()["items"]] == [f"{series}_20261207T090000Z"]


async def test_instances_of_an_unknown_event_is_googles_404(env: Env) -> None:
    cal = await env.new_calendar(tz=PARIS)
    r = await env.http.get(f"{API}/calendars/{cal}/events/nosuchevent/instances", headers=env.auth)
    assert r.status_code == 404
    assert r.json()["error"]["errors"][0]["reason"] == "notFound"


async def test_bounded_series_beyond_the_horizon_expands_in_full(env: Env) -> None:
    # Clock at 2026-11-23; the series runs to 2029-11 (1,100 days ahead, past the
    # 730-day horizon that only unbounded series get).
    cal = await env.new_calendar(tz=PARIS)
    counted = {**WEEKLY, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=157"]}
    until = {
        **WEEKLY,
        "summary": "Until",
        "recurrence": ["RRULE:FREQ=MONTHLY;UNTIL=20291231T000000Z"],
    }
    a = env.emu.create_event(cal, counted)["id"]
    b = env.emu.create_event(cal, until)["id"]
    items, _ = await env.pull(cal, singleEvents="true", maxResults="2500")
    of_a = [i for i in items if i["recurringEventId"] == a]
    of_b = [i for i in items if i["recurringEventId"] == b]
    assert len(of_a) == 157 and of_a[-1]["start"]["dateTime"].startswith("2029-11-26")
    # Every 30th from November 2026 to December 2029 (no 30 February): 38 - 3.
    assert len(of_b) == 35 and of_b[-1]["start"]["dateTime"].startswith("2029-12-30")


async def test_account_first_seen_on_consent_has_a_primary_calendar(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    newcomer = replace(env, email="newcomer@example.com")
    query = await consent(newcomer)
    full = (await exchange(newcomer, query["code"][0])).json()["access_token"]
    primary = await env.http.get(
        f"{API}/calendars/primary", headers={"Authorization": f"Bearer {full}"}
    )
    assert primary.status_code == 200 and primary.json()["id"] == "newcomer@example.com"
    listed = await env.http.get(
        f"{API}/users/me/calendarList", headers={"Authorization": f"Bearer {full}"}
    )
    assert [c["id"] for c in listed.json()["items"]] == ["newcomer@example.com"]
    assert listed.json()["items"][0]["primary"] is True
    # A token scoped to calendar.app.created still cannot see it.
    narrow = await consent(newcomer, scope=f"openid email {APP_CREATED}", prompt="consent")
    app_token = (await exchange(newcomer, narrow["code"][0])).json()["access_token"]
    hidden = await env.http.get(
        f"{API}/calendars/primary", headers={"Authorization": f"Bearer {app_token}"}
    )
    assert hidden.status_code == 404
    none = await env.http.get(
        f"{API}/users/me/calendarList", headers={"Authorization": f"Bearer {app_token}"}
    )
    assert none.json()["items"] == []
