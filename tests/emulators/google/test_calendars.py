"""calendars and calendarList, and the scope rules a client sees."""

from __future__ import annotations

from tests.emulators.google.helpers import API, APP_CREATED, Env, make_env


async def test_calendar_insert_get_patch_delete(env: Env) -> None:
    cal = await env.new_calendar("Meeting Room A · Riverside", "Europe/London")
    got = await env.http.get(f"{API}/calendars/{cal}", headers=env.auth)
    assert got.json()["summary"] == "Meeting Room A · Riverside"
    assert got.json()["timeZone"] == "Europe/London"
    etag = got.json()["etag"]
    patched = await env.http.patch(
        f"{API}/calendars/{cal}", json={"summary": "Room B"}, headers=env.auth
    )
    assert patched.status_code == 200 and patched.json()["summary"] == "Room B"
    assert patched.json()["etag"] != etag and patched.json()["timeZone"] == "Europe/London"
    deleted = await env.http.delete(f"{API}/calendars/{cal}", headers=env.auth)
    assert deleted.status_code == 204
    gone = await env.http.get(f"{API}/calendars/{cal}", headers=env.auth)
    assert gone.status_code == 404 and gone.json()["error"]["errors"][0]["reason"] == "notFound"


async def test_missing_summary_is_400(env: Env) -> None:
    r = await env.http.post(f"{API}/calendars", json={"timeZone": "UTC"}, headers=env.auth)
    assert r.status_code == 400 and r.json()["error"]["errors"][0]["reason"] == "required"


async def test_app_created_scope_sees_only_its_calendars() -> None:
    env = make_env(scopes=["openid", "email", APP_CREATED])
    try:
        mine = await env.new_calendar("Desk 4")
        # The member's primary calendar is hidden from a calendar.app.created token.
        listed = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
        assert [c["id"] for c in listed.json()["items"]] == [mine]
        primary = await env.http.get(f"{API}/calendars/primary/events", headers=env.auth)
        assert primary.status_code == 404
        own = await env.http.get(f"{API}/calendars/{mine}/events", headers=env.auth)
        assert own.status_code == 200
    finally:
        await env.http.aclose()


async def test_full_scope_lists_all_including_primary(env: Env) -> None:
    cal = await env.new_calendar()
    listed = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    items = {c["id"]: c for c in listed.json()["items"]}
    assert set(items) == {env.email, cal}
    assert items[env.email]["primary"] is True and items[cal]["accessRole"] == "owner"


async def test_missing_scope_is_403_insufficient_permissions() -> None:
    env = make_env(scopes=["openid", "email"])
    try:
        r = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
        assert r.status_code == 403
        err = r.json()["error"]
        assert err["code"] == 403 and err["errors"][0]["reason"] == "insufficientPermissions"
        w = await env.http.post(f"{API}/calendars", json={"summary": "x"}, headers=env.auth)
        assert w.status_code == 403
    finally:
        await env.http.aclose()


async def test_readonly_scope_cannot_write() -> None:
    env = make_env(scopes=["https://www.googleapis.com/auth/calendar.readonly"])
    try:
        assert (await env.list(env.email)).status_code == 200
        r = await env.http.post(
            f"{API}/calendars/primary/events",
            json={"start": {"date": "2026-12-01"}, "end": {"date": "2026-12-02"}},
            headers=env.auth,
        )
        assert r.status_code == 403
    finally:
        await env.http.aclose()
