"""/docs in a real browser with no way out of the machine (issue 17 item 11): every
request that leaves loopback is refused, and Swagger UI still renders spacecal's API
(its scripts and styles come from spacecal, api/docs.py). Skips without chromium,
except under CI=true (DESIGN: Browser tests)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from tests.support.browser import ARGS, CHROMIUM, _free_port, _need_chromium, _serve

from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database

pytestmark = pytest.mark.browser


async def test_docs_render_offline(settings: Settings, database: Database) -> None:
    _need_chromium()
    from playwright.async_api import Route, async_playwright

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    refused: list[str] = []

    async def offline(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort("internetdisconnected")

    app = create_app(settings, database, portal=False, admin=False)
    async with _serve(app, port), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.route("**/*", offline)
            await page.goto(base + "/docs")
            title = await page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert title is not None and "spacecal" in (await title.inner_text())
            await page.wait_for_selector('[data-path="/api/spaces/bookings"]', timeout=20_000)
        finally:
            await browser.close()
    assert refused == []
