"""Signing in to the console: API users only, the API's password check and failed-login
limiter, a session cookie kept to /admin, sign-out, and sessions that end when the
user is deactivated. A member's portal cookie never opens the console."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from sqlalchemy import update
from tests.admin.conftest import ADMIN, World, make_world, sign_in
from tests.support.portal import PASSWORD, SPACECAL, Browser, find_form

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import ApiUser


def _set_cookies(response: httpx2.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        found[header.split("=", 1)[0]] = header
    return found


async def test_signed_out_pages_send_you_to_sign_in(world: World) -> None:
    browser = world.browser()
    for path in (
        "/admin",
        "/admin/connections",
        f"/admin/connections/{world.ids['healthy']}",
        "/admin/activity",
    ):
        page = await browser.get(path)
        assert page.status_code == 200, path
        assert str(page.url).endswith("/admin/signin"), (path, page.url)
        assert "Sign in with your spacecal API user" in page.text
        assert "Meeting Room A" not in page.text


async def test_sign_in_shows_connections_and_sign_out_ends_it(world: World) -> None:
    browser = world.browser()
    page = await sign_in(browser, ADMIN)
    assert page.status_code == 200
    assert str(page.url).endswith("/admin/connections")
    assert "Signed in as admin@example.com (full administrator)" in page.text
    assert "Meeting Room A · healthy" in page.text

    page = await browser.post_form("/admin/signout")
    assert str(page.url).endswith("/admin/signin?notice=signed_out")
    assert "You are signed out." in page.text
    page = await browser.get("/admin/connections")
    assert str(page.url).endswith("/admin/signin")


async def test_wrong_password_or_unknown_user_is_refused(world: World) -> None:
    browser = world.browser()
    for email, password in ((ADMIN, "not the password"), ("nobody@example.com", PASSWORD)):
        page = await sign_in(browser, email, password)
        assert page.status_code == 400
        assert "The email or password is not right." in page.text
        assert "spacecal_admin_session" not in browser.http.cookies
    # A member's portal password is not an API user's.
    page = await sign_in(browser, "alice@example.com", PASSWORD)
    assert page.status_code == 400


async def test_session_cookie_is_httponly_lax_and_kept_to_admin(world: World) -> None:
    browser = world.browser()
    page = await browser.get("/admin/signin")
    csrf = _set_cookies(page)["spacecal_admin_csrf"]
    assert "HttpOnly" in csrf and "SameSite=lax" in csrf and "Path=/admin" in csrf
    form = find_form(page.text, "/admin/signin")
    answer = await browser.http.post(
        SPACECAL + "/admin/signin",
        data={**form.fields, "email": ADMIN, "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session = _set_cookies(answer)["spacecal_admin_session"]
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "Path=/admin" in session
    assert "Secure" not in session  # plain http here; see the https test
    assert answer.headers["location"] == "/admin/connections"


@pytest.fixture
async def https_world(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[World]:
    async for made in make_world(
        settings, database, member_password_hash, public_url="https://spacecal.example"
    ):
        yield made


async def test_session_cookie_is_secure_under_https(https_world: World) -> None:
    browser = https_world.browser()
    page = await browser.get("/admin/signin")
    assert "Secure" in _set_cookies(page)["spacecal_admin_csrf"]
    form = find_form(page.text, "/admin/signin")
    # A cookie jar keeps Secure cookies off plain http: send the double-submit one by hand.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=https_world.app), base_url=SPACECAL
    ) as raw:
        answer = await raw.post(
            "/admin/signin",
            data={**form.fields, "email": ADMIN, "password": PASSWORD},
            headers={"Cookie": f"spacecal_admin_csrf={form.fields['csrf_token']}"},
        )
    assert answer.status_code == 303, answer.text
    assert "Secure" in _set_cookies(answer)["spacecal_admin_session"]


async def test_failed_sign_ins_are_limited_together_with_the_api(world: World) -> None:
    browser = world.browser()
    for _ in range(5):
        page = await sign_in(browser, "google-viewer@example.com", "wrong password")
        assert page.status_code == 400
    page = await sign_in(browser, "google-viewer@example.com", PASSWORD)
    assert page.status_code == 429
    assert "Too many sign-in attempts" in page.text
    assert int(page.headers["Retry-After"]) > 0
    # The same budget guards the API's token endpoint for this account.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=world.app), base_url=SPACECAL
    ) as api:
        token = await api.post(
            "/api/token",
            data={
                "grant_type": "password",
                "username": "google-viewer@example.com",
                "password": PASSWORD,
            },
        )
    assert token.status_code == 429, token.text
    # Another user, from another address, is not locked out by it.
    elsewhere = Browser({SPACECAL: httpx2.ASGITransport(app=world.app, client=("192.0.2.7", 4000))})
    try:
        page = await sign_in(elsewhere, ADMIN)
        assert str(page.url).endswith("/admin/connections")
    finally:
        await elsewhere.aclose()


async def test_a_portal_session_cookie_is_not_an_admin_session(world: World) -> None:
    """Alice's coworker id equals the admin's user id (both 1): copying her portal cookie
    into the console's cookie must still not sign anyone in."""
    member = world.browser()
    page = await member.get("/portal/signin")
    page = await member.post_form("/portal/signin", email="alice@example.com", password=PASSWORD)
    assert page.status_code == 200 and "Sign out" in page.text
    portal_cookie = member.http.cookies.get("spacecal_session")
    assert portal_cookie
    intruder = world.browser()
    intruder.http.cookies.set("spacecal_admin_session", portal_cookie, path="/admin")
    page = await intruder.get("/admin/connections")
    assert str(page.url).endswith("/admin/signin")
    assert "Meeting Room A" not in page.text


async def test_a_deactivated_user_is_signed_out_at_once(world: World) -> None:
    browser = await world.signed_in("google-viewer@example.com")
    async with world.database.engine.begin() as conn:
        await conn.execute(
            update(ApiUser).where(ApiUser.email == "google-viewer@example.com").values(active=False)
        )
    page = await browser.get("/admin/connections")
    assert str(page.url).endswith("/admin/signin")


async def test_pages_are_not_cached_framed_or_loading_anything_from_elsewhere(
    world: World,
) -> None:
    browser = await world.signed_in()
    for path in (
        "/admin/connections",
        "/admin/activity",
        f"/admin/connections/{world.ids['healthy']}",
    ):
        page = await browser.get(path)
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-frame-options"] == "DENY"
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "http://" not in page.text.replace(SPACECAL, "").replace(
            "http://www.w3.org/2000/svg", ""
        )
        assert "<script" not in page.text
