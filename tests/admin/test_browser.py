"""The console in a real browser (Debian's chromium, driven by Playwright): sign in,
walk the connections list (filter by health), one connection (press resync now), the
activity charts, sign out; a screenshot of each main page, saved under the test's
temporary directory and checked: the viewport's size, not blank, and the page's own
colours where its key elements are (health pills, chart lines).

spacecal is served on a loopback port by uvicorn on the test's event loop (it shares
the session's database engine). Skips with a printed reason without
/usr/bin/chromium, except under CI=true (DESIGN: Browser tests)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.admin.conftest import ADMIN, World
from tests.admin.png import Image, read_png
from tests.support.browser import ARGS, CHROMIUM, _free_port, _need_chromium, _serve
from tests.support.portal import PASSWORD

from spacecal import activity, clock
from spacecal.activity import Activity, record_activity

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 900}
WHITE = (255, 255, 255)
# The page's own colours (admin.css, portal.css, chart.py).
HEALTHY_PILL = (0xE6, 0xF5, 0xEA)
FAILING_PILL = (0xFD, 0xEC, 0xEA)
SYNC_LINE = (0x1D, 0x6B, 0x34)
NOTIFICATION_LINE = (0x2F, 0x5B, 0xD3)


async def shoot(page: Any, path: Path) -> Image:
    """A full-page screenshot saved at `path`, checked: a PNG of the page's size (the
    viewport's width, the document's height) with real content on it."""
    data: bytes = await page.screenshot(path=path, full_page=True)
    height = await page.evaluate("document.documentElement.scrollHeight")
    return check_png(data, path.name, max(height, VIEWPORT["height"]))


def check_png(data: bytes, name: str, height: int) -> Image:
    assert len(data) > 5_000, f"{name}: suspiciously small file"
    image = read_png(data)
    assert (image.width, image.height) == (VIEWPORT["width"], height), name
    colours = image.colours()
    _background, share = colours.most_common(1)[0]
    sampled = sum(colours.values())
    assert share / sampled < 0.97, f"{name}: {share / sampled:.1%} is one colour"
    assert len(colours) > 25, f"{name}: only {len(colours)} colours (blank?)"
    return image


async def box(page: Any, selector: str) -> tuple[int, int, int, int]:
    """The element's box in viewport pixels; it must be visible and on screen."""
    element = page.locator(selector).first
    assert await element.is_visible(), selector
    found = await element.bounding_box()
    assert found is not None, selector
    x, y, w, h = (int(found[k]) for k in ("x", "y", "width", "height"))
    assert w > 0 and h > 0 and x >= 0 and y >= 0, (selector, found)
    return x, y, w, h


async def _activity(world: World) -> None:
    now = clock.now()
    rows = [
        Activity(world.space.business_id, "google", activity.NOTIFICATION, 6),
        Activity(world.space.business_id, "google", activity.SYNC, 4),
        Activity(world.space.business_id, "microsoft", activity.BOOKING_FROM_CALENDAR, 2),
        Activity(world.space.business_id, "microsoft", activity.REFUSAL, 1),
    ]
    async with world.database.engine.begin() as conn:
        for hours in (0, 3, 7, 30, 200):
            await record_activity(conn, rows, at=now - timedelta(hours=hours))


async def test_walk_the_console_with_screenshots(world: World, tmp_path: Path) -> None:
    _need_chromium()
    from playwright.async_api import async_playwright

    await _activity(world)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    started = time.monotonic()
    async with _serve(world.app, port), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = await browser.new_page(viewport=VIEWPORT)

        # Sign in.
        await page.goto(url + "/admin/connections")
        await page.wait_for_selector("#signin")  # signed out: sent to sign in
        await box(page, "#email")
        await shoot(page, shots / "signin.png")
        await page.fill("#email", ADMIN)
        await page.fill("#password", PASSWORD)
        await page.click("#signin")

        # The list: summary, filters, every connection with its health.
        await page.wait_for_selector("#connections")
        assert await page.locator("#connections tbody tr").count() == len(world.ids)
        await box(page, "#summary")
        await box(page, "#filters")
        healthy = await box(page, "#connections .pill.state-healthy")
        failing = await box(page, "#connections .pill.state-failing")
        assert await page.locator("text=GraphUnavailable: 503 from Graph").first.is_visible()
        image = await shoot(page, shots / "connections.png")
        assert image.count_near(HEALTHY_PILL, healthy, tolerance=6) > 50
        assert image.count_near(FAILING_PILL, failing, tolerance=6) > 50

        await page.select_option("#health", "failing")
        await page.click("#apply")
        await page.wait_for_url("**health=failing**")
        assert await page.locator("#connections tbody tr").count() == 1

        # One connection: fields, history, buttons; resync now.
        await page.goto(url + f"/admin/connections/{world.ids['healthy']}")
        await page.wait_for_selector("#history")
        await box(page, "#fields")
        await box(page, "#resync")
        assert await page.locator("#history tbody tr").count() == 3
        await shoot(page, shots / "connection.png")
        await page.click("#resync")
        await page.wait_for_selector("text=Resync queued")
        assert await page.locator("#resync-pending").is_visible()

        # Activity: both charts drawn, four lines each.
        await page.click("#nav-activity")
        await page.wait_for_selector("#chart-day")
        assert await page.locator("#chart-day polyline.series").count() == 4
        assert await page.locator("#chart-month polyline.series").count() == 4
        chart = await box(page, "#chart-day")
        await box(page, "#legend")
        image = await shoot(page, shots / "activity.png")
        assert image.count_near(SYNC_LINE, chart, tolerance=30) > 100
        assert image.count_near(NOTIFICATION_LINE, chart, tolerance=30) > 100

        # Sign out.
        await page.click("#signout")
        await page.wait_for_selector("text=You are signed out.")
        await page.goto(url + "/admin/connections")
        await page.wait_for_selector("#signin")
        await browser.close()
    print(f"screenshots in {shots} ({time.monotonic() - started:.1f} s)")
    assert sorted(p.name for p in shots.iterdir()) == [
        "activity.png",
        "connection.png",
        "connections.png",
        "signin.png",
    ]
    row = await world.row("healthy")
    assert row.resync_requested is True
