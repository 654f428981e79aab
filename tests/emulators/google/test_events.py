"""events insert/get/patch/update/delete: ids, etags, properties, times."""

from __future__ import annotations

from typing import Any

import httpx2
from tests.emulators.google.helpers import API, Env

TIMED = {
    "summary": "Standup",
    "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "Europe/Paris"},
    "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "Europe/Paris"},
}


async def insert(env: Env, cal: str, body: dict[str, Any]) -> httpx2.Response:
    return await env.http.post(f"{API}/calendars/{cal}/events", json=body, headers=env.auth)


async def test_insert_and_get_timed_event(env: Env) -> None:
    cal = await env.new_calendar()
    r = await insert(env, cal, {**TIMED, "extendedProperties": {"private": {"bookingId": "42"}}})
    assert r.status_code == 200, r.text
    ev = r.json()
    assert ev["kind"] == "calendar#event" and ev["status"] == "confirmed"
    assert ev["start"] == {"dateTime": "2026-11-24T10:00:00+01:00", "timeZone": "Europe/Paris"}
    assert ev["extendedProperties"] == {"private": {"bookingId": "42"}}
    assert ev["updated"].startswith("2026-11-23T08:00:00.") and ev["updated"].endswith("Z")
    got = await env.http.get(f"{API}/calendars/{cal}/events/{ev['id']}", headers=env.auth)
    assert got.json() == ev


async def test_utc_offset_input_is_rendered_in_calendar_zone(env: Env) -> None:
    cal = await env.new_calendar(tz="America/New_York")
    r = await insert(
        env,
        cal,
        {
            "start": {"dateTime": "2026-11-24T15:00:00Z"},
            "end": {"dateTime": "2026-11-24T16:00:00Z"},
        },
    )
    assert r.json()["start"] == {"dateTime": "2026-11-24T10:00:00-05:00"}


async def test_all_day_event(env: Env) -> None:
    cal = await env.new_calendar()
    r = await insert(env, cal, {"start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}})
    assert r.status_code == 200 and r.json()["start"] == {"date": "2026-12-01"}
    empty = await insert(env, cal, {"start": {"date": "2026-12-01"}, "end": {"date": "2026-12-01"}})
    assert empty.status_code == 400
    assert empty.json()["error"]["errors"][0]["reason"] == "timeRangeEmpty"


async def test_end_before_start_and_missing_times(env: Env) -> None:
    cal = await env.new_calendar()
    back = await insert(env, cal, {"start": TIMED["end"], "end": TIMED["start"]})
    assert back.status_code == 400
    missing = await insert(env, cal, {"summary": "x", "start": TIMED["start"]})
    assert missing.status_code == 400
    assert missing.json()["error"]["errors"][0]["reason"] == "required"


async def test_client_chosen_id_rules(env: Env) -> None:
    cal = await env.new_calendar()
    ok = await insert(env, cal, {**TIMED, "id": "booking0042abcv"})
    assert ok.status_code == 200 and ok.json()["id"] == "booking0042abcv"
    dup = await insert(env, cal, {**TIMED, "id": "booking0042abcv"})
    assert dup.status_code == 409
    assert dup.json() == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "duplicate",
                    "message": "The requested identifier already exists.",
                }
            ],
            "code": 409,
            "message": "The requested identifier already exists.",
        }
    }
    # Still a duplicate after deletion: creation stays idempotent.
    await env.http.delete(f"{API}/calendars/{cal}/events/booking0042abcv", headers=env.auth)
    assert (await insert(env, cal, {**TIMED, "id": "booking0042abcv"})).status_code == 409
    for bad in ("abcd", "Booking0042", "bookingw0042", "a" * 1025, "book_ing42"):
        r = await insert(env, cal, {**TIMED, "id": bad})
        assert r.status_code == 400, bad
        assert r.json()["error"]["errors"][0]["reason"] == "invalid"
    assert (await insert(env, cal, {**TIMED, "id": "a" * 1024})).status_code == 200
    assert (await insert(env, cal, {**TIMED, "id": "0v9a5"})).status_code == 200


async def test_generated_ids_are_base32hex(env: Env) -> None:
    cal = await env.new_calendar()
    ev = (await insert(env, cal, TIMED)).json()
    assert set(ev["id"]) <= set("0123456789abcdefghijklmnopqrstuv")


async def test_etag_and_updated_change_on_every_write(env: Env) -> None:
    cal = await env.new_calendar()
    ev = (await insert(env, cal, TIMED)).json()
    seen_etags, seen_updated = {ev["etag"]}, {ev["updated"]}
    url = f"{API}/calendars/{cal}/events/{ev['id']}"
    for n in range(3):  # the clock is frozen: updated must still move
        r = await env.http.patch(url, json={"summary": f"v{n}"}, headers=env.auth)
        seen_etags.add(r.json()["etag"])
        seen_updated.add(r.json()["updated"])
    assert len(seen_etags) == 4 and len(seen_updated) == 4


async def test_patch_merges_objects_and_replaces_arrays(env: Env) -> None:
    cal = await env.new_calendar()
    body = {
        **TIMED,
        "extendedProperties": {"private": {"bookingId": "1", "v": "1"}},
        "attendees": [{"email": "a@x.test"}, {"email": "b@x.test"}],
    }
    ev = (await insert(env, cal, body)).json()
    url = f"{API}/calendars/{cal}/events/{ev['id']}"
    r = await env.http.patch(
        url,
        json={"extendedProperties": {"private": {"v": "2"}}, "attendees": [{"email": "c@x.test"}]},
        headers=env.auth,
    )
    out = r.json()
    assert out["extendedProperties"]["private"] == {"bookingId": "1", "v": "2"}
    assert out["attendees"] == [{"email": "c@x.test"}]
    assert out["summary"] == "Standup"


async def test_put_replaces_everything(env: Env) -> None:
    cal = await env.new_calendar()
    ev = (await insert(env, cal, {**TIMED, "description": "d"})).json()
    url = f"{API}/calendars/{cal}/events/{ev['id']}"
    r = await env.http.put(
        url, json={"start": TIMED["start"], "end": TIMED["end"]}, headers=env.auth
    )
    assert r.status_code == 200
    assert "description" not in r.json() and "summary" not in r.json()


async def test_if_match(env: Env) -> None:
    cal = await env.new_calendar()
    ev = (await insert(env, cal, TIMED)).json()
    url = f"{API}/calendars/{cal}/events/{ev['id']}"
    stale = await env.http.patch(
        url, json={"summary": "x"}, headers={**env.auth, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    fresh = await env.http.patch(
        url, json={"summary": "x"}, headers={**env.auth, "If-Match": ev["etag"]}
    )
    assert fresh.status_code == 200


async def test_delete_then_get_shows_cancelled_and_second_delete_is_410(env: Env) -> None:
    cal = await env.new_calendar()
    ev = (await insert(env, cal, TIMED)).json()
    url = f"{API}/calendars/{cal}/events/{ev['id']}"
    assert (await env.http.delete(url, headers=env.auth)).status_code == 204
    got = await env.http.get(url, headers=env.auth)
    assert got.status_code == 200 and got.json()["status"] == "cancelled"
    again = await env.http.delete(url, headers=env.auth)
    assert again.status_code == 410 and again.json()["error"]["errors"][0]["reason"] == "deleted"
    missing = await env.http.get(f"{API}/calendars/{cal}/events/nosuchevent", headers=env.auth)
    assert missing.status_code == 404


async def test_bad_json_is_parse_error(env: Env) -> None:
    cal = await env.new_calendar()
    r = await env.http.post(
        f"{API}/calendars/{cal}/events",
        content=b"{not json",
        headers={**env.auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "parseError"
