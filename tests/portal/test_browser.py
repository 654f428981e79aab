"""One real browser (Debian's chromium, driven by Playwright) through the whole flow:
sign in, connect Google in the emulator's consent page, add a resource, see it listed.

spacecal and the Google emulator are served on loopback ports by uvicorn on the
test's own event loop (the app shares the session's database engine, which is bound
to that loop). Skips with a printed reason without /usr/bin/chromium, except under
CI=true, where a missing browser is a failure (DESIGN: Browser tests)."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from tests.support.browser import ARGS, CHROMIUM, _free_port, _need_chromium, _serve
from tests.support.database import reset_database
from tests.support.environments import portal_settings
from tests.support.portal import PASSWORD, seed_space

from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.emulators.google import GoogleEmulator

pytestmark = pytest.mark.browser


async def test_sign_in_connect_google_add_a_resource(
    settings: Settings, database: Database, member_password_hash: str
) -> None:
    _need_chromium()
    from playwright.async_api import async_playwright

    await reset_database(database.engine)
    space = await seed_space(database.engine, member_password_hash)
    sport, gport = _free_port(), _free_port()
    spacecal_url, google_url = f"http://127.0.0.1:{sport}", f"http://127.0.0.1:{gport}"
    cfg = portal_settings(settings).model_copy(
        update={
            "public_url": spacecal_url,
            "google_api_base": google_url + "/calendar/v3",
            "google_authorize_url": google_url + "/o/oauth2/v2/auth",
            "google_token_url": google_url + "/token",
            "google_revoke_url": google_url + "/revoke",
        }
    )
    app = create_app(cfg, database)
    push = httpx2.AsyncClient(base_url=spacecal_url)
    google = GoogleEmulator(seed=3, base_url=google_url, push_client=push)
    provider_http = httpx2.AsyncClient(timeout=30)
    app.state.portal.use_http(provider_http)
    try:
        async with _serve(app, sport), _serve(google.app, gport), async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = await browser.new_page()
            await page.goto(spacecal_url + "/portal/signin")
            await page.fill("#email", "alice@example.com")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_selector("#connect-google")
            await page.click("#connect-google")
            await page.wait_for_selector("#allow")  # the emulator's consent page
            await page.fill("#email", "alice@gmail.test")
            await page.click("#allow")
            await page.wait_for_selector("text=is connected")
            room = page.locator(f"#provider-google li[data-resource='{space.room_id}']")
            await room.locator("button.switch").click()
            await page.wait_for_selector("text=Added")
            room = page.locator(f"#provider-google li[data-resource='{space.room_id}']")
            assert "In your calendar" in await room.inner_text()
            assert "Remove from my calendar" in await room.inner_text()
            await browser.close()
        calendars = [c["summary"] for c in google.calendars("alice@gmail.test")]
        assert "Meeting Room A · Riverside" in calendars
    finally:
        await provider_http.aclose()
        await google.aclose()
        await push.aclose()


async def test_a_refusal_offers_alternatives_one_click_books(
    settings: Settings, database: Database, member_password_hash: str, tmp_path: Path
) -> None:
    """The booking page in a real browser: a slot taken meanwhile is refused with what
    is free instead; clicking an offer books it."""
    _need_chromium()
    from datetime import timedelta

    from playwright.async_api import async_playwright
    from tests.support.bookings import tomorrow_at

    from spacecal import bookings, clock

    await reset_database(database.engine)
    space = await seed_space(database.engine, member_password_hash)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(portal_settings(settings).model_copy(update={"public_url": url}), database)
    day = tomorrow_at(10).date().isoformat()
    async with _serve(app, port), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page()
        await page.goto(url + "/portal/signin")
        await page.fill("#email", "alice@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("text=Integrations")
        await page.goto(f"{url}/portal/bookings?resource={space.room_id}&day={day}&length=60")
        async with database.engine.begin() as conn:  # Bob takes 10:00 meanwhile
            await bookings.create(
                conn,
                {
                    "resource_id": space.room_id,
                    "coworker_id": space.bob,
                    "from_time": tomorrow_at(10),
                    "to_time": tomorrow_at(10) + timedelta(hours=1),
                    "source": "api",
                },
                by="test",
                now=clock.now(),
            )
        await page.click("button.slot:text-is('10:00–11:00')")
        await page.wait_for_selector("#alternatives")
        assert "is taken 10:00–11:00" in await page.inner_text("[role=alert]")
        offers = await page.locator("button.alternative").all_inner_texts()
        assert offers == ["09:00–10:00 here", "11:00–12:00 here", "08:30–09:30 here"]
        await page.screenshot(path=str(tmp_path / "refusal.png"), full_page=True)
        await page.click("button.alternative:text-is('11:00–12:00 here')")
        await page.wait_for_selector("text=Booked. It appears")
        upcoming = await page.inner_text("ul.upcoming")
        assert "Meeting Room A" in upcoming and "11:00–12:00" in upcoming
        await browser.close()
