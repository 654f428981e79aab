"""Every POST of the console refuses a missing, made-up, other session's or portal
CSRF token with a 403 page, and changes nothing; every rendered form carries one."""

from __future__ import annotations

import pytest
from tests.admin.conftest import ADMIN, World, sign_in
from tests.support.portal import PASSWORD, SPACECAL, Browser, find_form, forms


async def _token(browser: Browser, path: str) -> str:
    page = await browser.get(path)
    return find_form(page.text, "/admin/signout").fields["csrf_token"]


@pytest.mark.parametrize("forged", ["missing", "made-up", "other-session", "portal"])
async def test_buttons_refuse_a_bad_token_and_change_nothing(world: World, forged: str) -> None:
    browser = await world.signed_in(ADMIN)
    ident = world.ids["healthy"]
    data = {"confirm": "yes"}
    if forged == "made-up":
        data["csrf_token"] = "x" * 43
    elif forged == "other-session":
        other = await world.signed_in("google-editor@example.com")
        data["csrf_token"] = await _token(other, "/admin/connections")
    elif forged == "portal":
        member = world.browser()
        page = await member.get("/portal/signin")
        page = await member.post_form(
            "/portal/signin", email="alice@example.com", password=PASSWORD
        )
        data["csrf_token"] = find_form(page.text, "/portal/signout").fields["csrf_token"]
    for button in ("resync", "renew", "disconnect"):
        answer = await browser.http.post(
            f"{SPACECAL}/admin/connections/{ident}/{button}", data=data, follow_redirects=False
        )
        assert answer.status_code == 403, button
        assert "This form was not accepted" in answer.text
    row = await world.row("healthy")
    assert row is not None
    assert (row.resync_requested, row.renew_requested) == (False, False)
    assert [j.task_name for j in await world.jobs()] == ["spacecal.reconcile"]  # the seeded one


async def test_sign_in_needs_the_double_submit_token(world: World) -> None:
    browser = world.browser()
    await browser.get("/admin/signin")
    for data in (
        {"email": ADMIN, "password": PASSWORD},
        {"email": ADMIN, "password": PASSWORD, "csrf_token": "y" * 43},
    ):
        answer = await browser.http.post(
            f"{SPACECAL}/admin/signin", data=data, follow_redirects=False
        )
        assert answer.status_code == 403
        assert "spacecal_admin_session" not in answer.headers.get("set-cookie", "")
    # A form fetched by another browser (an attacker's token) does not sign this one in.
    attacker = world.browser()
    page = await attacker.get("/admin/signin")
    stolen = find_form(page.text, "/admin/signin").fields["csrf_token"]
    answer = await browser.http.post(
        f"{SPACECAL}/admin/signin",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": stolen},
        follow_redirects=False,
    )
    assert answer.status_code == 403


async def test_sign_out_needs_the_sessions_token(world: World) -> None:
    browser = await world.signed_in(ADMIN)
    answer = await browser.http.post(
        f"{SPACECAL}/admin/signout", data={"csrf_token": "z" * 43}, follow_redirects=False
    )
    assert answer.status_code == 403
    page = await browser.get("/admin/connections")
    assert page.status_code == 200 and str(page.url).endswith("/admin/connections")


async def test_every_form_carries_a_token(world: World) -> None:
    browser = world.browser()
    page = await sign_in(browser, ADMIN)
    pages = [page]
    for path in (
        f"/admin/connections/{world.ids['healthy']}",
        "/admin/activity",
        "/admin/connections?health=failing",
    ):
        pages.append(await browser.get(path))
    signed_out = world.browser()
    pages.append(await signed_out.get("/admin/signin"))
    posts = [f for p in pages for f in forms(p.text) if f.method == "post"]
    assert len(posts) >= 6
    for form in posts:
        assert len(form.fields.get("csrf_token", "")) >= 32, form.action


async def test_sign_out_after_the_session_ended_just_signs_out(world: World) -> None:
    browser = await world.signed_in(ADMIN)
    page = await browser.get("/admin/connections")
    form = find_form(page.text, "/admin/signout")
    browser.http.cookies.delete("spacecal_admin_session")  # it expired meanwhile
    page = await browser.submit(form)
    assert page.status_code == 200
    assert "You are signed out." in page.text
