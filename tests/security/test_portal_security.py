"""The members' portal: CSRF on every form, cookie flags, the sign-in limiter per
address, and each member seeing and changing only their own connections. Sessions do
not open the API and API tokens do not open the portal."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from sqlalchemy import text
from tests.support.bookings import EMAIL, _book_via_api
from tests.support.environments import Env
from tests.support.portal import SPACECAL, find_form, forms
from tests.support.routes import _leaves

from spacecal.web.sessions import CSRF_COOKIE, SESSION_COOKIE

STATE = (
    "SELECT (SELECT count(*) FROM bookings WHERE cancelled_at IS NULL),"
    " (SELECT count(*) FROM connections),"
    " (SELECT string_agg(provider || ':' || status, ',' ORDER BY id) FROM provider_accounts),"
    " (SELECT count(*) FROM oauth_states),"
    " (SELECT count(*) FROM member_sign_in_links WHERE used_at IS NULL)"
)


async def state(env: Env) -> Any:
    async with env.rt.db.engine.connect() as conn:
        return tuple((await conn.execute(text(STATE))).one())


def portal_posts(env: Env) -> list[str]:
    paths = [
        r.path
        for r in _leaves(env.app.routes)
        if getattr(r, "methods", None) and "POST" in r.methods and r.path.startswith("/portal")
    ]
    assert len(paths) >= 8, paths
    return paths


async def test_every_portal_form_needs_its_csrf_token(env: Env) -> None:
    booking = await _book_via_api(env)
    alice = env.browser
    await alice.sign_in("alice@example.com")
    await alice.connect("google", EMAIL["google"])
    page = await alice.get("/portal")
    await alice.post_form(f"/portal/resources/{env.space.room_id}/google", action="add")
    link = (await env.api.post(f"/api/spaces/coworkers/{env.space.alice}/signinlink")).json()
    token = link["Value"]["Url"].rsplit("/", 1)[1]
    bob = env.new_browser()
    await bob.sign_in("bob@example.com")
    bobs_token = find_form((await bob.get("/portal")).text, "/portal/signout").fields["csrf_token"]
    # Every POST form the pages render carries a token.
    for path in ("/portal", "/portal/bookings", "/portal/signout"):
        page = await alice.get(path)
        for form in forms(page.text):
            if form.method == "post":
                assert form.fields.get("csrf_token"), (path, form.action)

    before = await state(env)
    fill = {
        "{provider}": "google",
        "{resource_id}": str(env.space.room_id),
        "{token}": token,
        "{booking_id}": str(booking),
    }
    signed_out = env.new_browser()
    await signed_out.get("/portal/signin")  # has a double-submit cookie, sends no token
    for template in portal_posts(env):
        path = template
        for key, value in fill.items():
            path = path.replace(key, value)
        data = {
            "email": "alice@example.com",
            "password": "correct horse battery",
            "action": "remove",
            "resource": str(env.space.room_id),
            "start": "2030-01-01T10:00:00Z",
        }
        for who, sent in (
            (alice, None),  # no token
            (alice, "x" * 43),  # a made-up one
            (alice, bobs_token),  # another member's
            (signed_out, None),
            (signed_out, "x" * 43),
        ):
            form = dict(data) if sent is None else {**data, "csrf_token": sent}
            answer = await who.http.post(SPACECAL + path, data=form, follow_redirects=False)
            assert answer.status_code == 403, (path, sent, answer.status_code)
            assert "not accepted" in answer.text
            assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert await state(env) == before
    for b in (bob, signed_out):
        await b.aclose()


@pytest.mark.parametrize(("public_url", "secure"), [("https://spaces.example", True), ("", False)])
async def test_cookies_are_httponly_samesite_and_secure_over_https(
    env: Env, public_url: str, secure: bool
) -> None:
    if public_url:
        env.rt.sessions.secure = True  # what install_portal sets for an https public URL
    base = public_url or SPACECAL
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=env.app), base_url=base
    ) as client:
        page = await client.get("/portal/signin")
        csrf_cookie = page.headers["set-cookie"]
        csrf = find_form(page.text, "/portal/signin").fields["csrf_token"]
        client.cookies.set(CSRF_COOKIE, csrf)
        answer = await client.post(
            "/portal/signin",
            data={
                "csrf_token": csrf,
                "email": "alice@example.com",
                "password": "correct horse battery",
            },
        )
        assert answer.status_code == 303, answer.text
        session_cookie = answer.headers["set-cookie"]
    for cookie, name in ((csrf_cookie, CSRF_COOKIE), (session_cookie, SESSION_COOKIE)):
        flags = [p.strip().lower() for p in cookie.split(";")]
        assert flags[0].startswith(name + "=")
        assert "httponly" in flags and "samesite=lax" in flags and "path=/portal" in flags
        assert ("secure" in flags) is secure, cookie


def test_an_https_public_url_makes_the_cookies_secure(env: Env) -> None:
    from spacecal.portal import portal_runtime
    from spacecal.web.services import Services

    https = env.rt.settings.model_copy(update={"public_url": "https://spaces.example"})
    secure = portal_runtime(Services.build(https, env.rt.db, env.rt.http))
    assert secure.sessions.secure is True
    http = env.rt.settings.model_copy(update={"public_url": "http://127.0.0.1:8000"})
    plain = portal_runtime(Services.build(http, env.rt.db, env.rt.http))
    assert plain.sessions.secure is False


async def test_failed_sign_ins_are_limited_per_address(env: Env) -> None:
    guesser = env.browser
    for n in range(env.rt.settings.login_address_max_failures):
        page = await guesser.sign_in(f"guess{n}@example.com", "wrong password")
        assert page.status_code == 400
    # Even the right password of another member is refused from this address...
    page = await guesser.sign_in("bob@example.com")
    assert page.status_code == 429 and "Too many sign-in attempts" in page.text
    assert SESSION_COOKIE not in str(guesser.http.cookies)
    # ...while another address may still sign in (one limiter, keyed by address).
    elsewhere = httpx2.ASGITransport(app=env.app, client=("203.0.113.9", 1000))
    async with httpx2.AsyncClient(
        transport=elsewhere, base_url=SPACECAL, follow_redirects=True
    ) as other:
        page = await other.get("/portal/signin")
        form = find_form(page.text, "/portal/signin")
        page = await other.post(
            "/portal/signin",
            data={**form.fields, "email": "bob@example.com", "password": "correct horse battery"},
        )
        assert page.status_code == 200 and "Bob Member" in page.text


async def test_a_member_sees_and_changes_only_their_own_connections(env: Env) -> None:
    alice = env.browser
    await alice.sign_in("alice@example.com")
    await alice.connect("microsoft", EMAIL["microsoft"])
    await alice.get("/portal")
    page = await alice.post_form(f"/portal/resources/{env.space.room_id}/microsoft", action="add")
    assert "Added" in page.text
    [connection] = await env.records("coworkermsofficecalendars")
    bob = env.new_browser()
    await bob.sign_in("bob@example.com")
    page = await bob.get("/portal")
    for secret in (EMAIL["microsoft"], connection["CalendarId"], connection["Name"]):
        assert secret not in page.text
    before = await state(env)
    csrf = find_form(page.text, "/portal/signout").fields["csrf_token"]
    for path, data in (
        (f"/portal/resources/{env.space.room_id}/microsoft", {"action": "remove"}),
        ("/portal/accounts/microsoft/disconnect", {}),
    ):
        answer = await bob.http.post(SPACECAL + path, data={"csrf_token": csrf, **data})
        assert answer.status_code == 200
    assert await state(env) == before
    assert [c["Id"] for c in await env.records("coworkermsofficecalendars")] == [connection["Id"]]
    page = await alice.get("/portal")
    assert EMAIL["microsoft"] in page.text
    await bob.aclose()


async def test_sessions_and_api_tokens_do_not_open_each_other(env: Env) -> None:
    browser = env.browser
    await browser.sign_in("alice@example.com")
    answer = await browser.http.get(SPACECAL + "/api/spaces/coworkers")
    assert answer.status_code == 401
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=env.app), base_url=SPACECAL
    ) as client:
        page = await client.get("/portal", headers=env.space.admin_headers)
        assert page.status_code == 303 and page.headers["location"] == "/portal/signin"
        forged = await client.get("/portal", cookies={SESSION_COOKIE: "eyJjIjoxfQ.forged.sig"})
        assert forged.status_code == 303
