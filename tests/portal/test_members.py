"""Sign-in (password, one-time link), CSRF, booking from the portal, isolation between
members, and key rotation of the stored provider tokens."""

from __future__ import annotations

import re

from cryptography.fernet import Fernet
from sqlalchemy import select, update
from tests.support.bookings import EMAIL, _book_via_api
from tests.support.environments import Env
from tests.support.portal import find_form, forms

from spacecal.crypto import FINGERPRINT_META_KEY, TokenCipher
from spacecal.db.models import Booking, Meta, ProviderAccount
from spacecal.db.rekey import reencrypt_tokens


async def test_wrong_password_is_explained_and_rate_limited(env: Env) -> None:
    b = env.browser
    page = await b.sign_in("alice@example.com", "not the password")
    assert page.status_code == 400 and "email or password is not right" in page.text
    for _ in range(5):
        page = await b.sign_in("alice@example.com", "not the password")
    assert page.status_code == 429 and "Too many sign-in attempts" in page.text


async def test_sign_in_link_from_the_api_works_once(env: Env) -> None:
    answer = await env.api.post(f"/api/spaces/coworkers/{env.space.alice}/signinlink")
    assert answer.status_code == 200, answer.text
    url = answer.json()["Value"]["Url"]
    b = env.browser
    page = await b.get(url)  # a GET does not use it up
    page = await b.get(url)
    page = await b.post_form("/portal/signin/link/")
    assert page.url.path == "/portal" and "Alice Member" in page.text
    other = env.new_browser()
    page = await other.get(url)
    assert "not valid any more" in page.text
    await other.aclose()


async def test_post_without_csrf_token_is_403(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    answer = await b.http.post(
        f"http://spacecal.test/portal/resources/{env.space.room_id}/google",
        data={"action": "add"},
    )
    assert answer.status_code == 403 and "not accepted" in answer.text
    answer = await b.http.post("http://spacecal.test/portal/signin", data={"email": "x"})
    assert answer.status_code == 403


async def test_book_and_cancel_in_the_portal(env: Env) -> None:
    b = env.browser
    await b.sign_in("alice@example.com")
    page = await b.get(f"/portal/bookings?resource={env.space.room_id}")
    pick = find_form(page.text, "/portal/bookings")
    assert pick.method == "get"
    # Tomorrow, so there are free slots whatever the time of day.
    from datetime import date, timedelta

    day = (date.fromisoformat(pick.fields["day"]) + timedelta(days=1)).isoformat()
    page = await b.submit(pick, resource=str(env.space.room_id), day=day, length="60")
    slots = [f for f in forms(page.text) if f.action == "/portal/bookings" and f.method == "post"]
    assert slots and slots[0].fields["start"]
    page = await b.submit(slots[0])
    assert "Booked." in page.text
    async with env.rt.db.engine.connect() as conn:
        booking = (await conn.execute(select(Booking.id, Booking.source))).one()
    assert booking.source == "portal"
    # The same slot again: the API's rule, in words.
    page = await b.submit(slots[0])
    assert page.status_code == 409 and "taken" in page.text
    page = await b.get("/portal/bookings")
    page = await b.post_form(f"/portal/bookings/{booking.id}/cancel")
    assert "Booking cancelled." in page.text
    assert "You have no upcoming bookings." in page.text


async def test_members_see_and_change_only_their_own(env: Env) -> None:
    alice_booking = await _book_via_api(env)
    alice = env.browser
    await alice.sign_in("alice@example.com")
    await alice.connect("google", EMAIL["google"])
    bob = env.new_browser()
    await bob.sign_in("bob@example.com")
    page = await bob.get("/portal")
    assert EMAIL["google"] not in page.text and "Bob Member" in page.text
    page = await bob.get("/portal/bookings")
    assert "You have no upcoming bookings." in page.text
    csrf = find_form(page.text, "/portal/signout").fields["csrf_token"]
    answer = await bob.http.post(
        f"http://spacecal.test/portal/bookings/{alice_booking}/cancel", data={"csrf_token": csrf}
    )
    assert answer.status_code == 404
    async with env.rt.db.engine.connect() as conn:
        assert (
            await conn.scalar(select(Booking.cancelled_at).where(Booking.id == alice_booking))
            is None
        )
    # Bob's own Google is not connected: adding a resource there is refused in words.
    answer = await bob.http.post(
        f"http://spacecal.test/portal/resources/{env.space.room_id}/google",
        data={"csrf_token": csrf, "action": "add"},
    )
    assert "Connect your calendar account first." in answer.text
    await bob.aclose()


async def test_key_rotation_reencrypts_tokens(env: Env) -> None:
    await env.browser.sign_in("alice@example.com")
    await env.browser.connect("google", EMAIL["google"])
    old_cipher = env.rt.db.cipher
    async with env.rt.db.engine.connect() as conn:
        stored = await conn.scalar(select(ProviderAccount.refresh_token_enc))
        fingerprint = await conn.scalar(select(Meta.value).where(Meta.key == FINGERPRINT_META_KEY))
    plain = old_cipher.decrypt(stored)
    new_key = Fernet.generate_key().decode()
    both = TokenCipher([new_key, *old_cipher.keys])
    try:
        assert await reencrypt_tokens(env.rt.db.engine, both) >= 2
        async with env.rt.db.engine.connect() as conn:
            rotated = await conn.scalar(select(ProviderAccount.refresh_token_enc))
            now_fp = await conn.scalar(select(Meta.value).where(Meta.key == FINGERPRINT_META_KEY))
        assert TokenCipher([new_key]).decrypt(rotated) == plain  # the old key is not needed
        assert now_fp == both.primary_fingerprint
        assert not re.search(re.escape(plain), str(rotated))
    finally:
        # The session database is shared: put its fingerprint back for later tests.
        async with env.rt.db.engine.begin() as conn:
            await conn.execute(
                update(Meta).where(Meta.key == FINGERPRINT_META_KEY).values(value=fingerprint)
            )
            await conn.execute(update(ProviderAccount).values(refresh_token_enc=stored))


async def test_an_unknown_portal_page_is_a_page_not_json(env: Env) -> None:
    answer = await env.browser.get("/portal/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "This page does not exist" in answer.text
