"""The connections page: each health as the table in conftest.py says, the summary's
counts, the filters (business, provider, health), the search box and paging."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from tests.admin.conftest import World, make_world
from tests.support.portal import find_form

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.models import Connection


def rows(html: str) -> dict[int, str]:
    """Listed connection ids and the health each shows."""
    return {
        int(i): state
        for i, state in re.findall(r'<tr data-id="(\d+)" data-state="([a-z_]+)">', html)
    }


async def listed(world: World, query: str = "", email: str = "admin@example.com") -> dict[int, str]:
    browser = await world.signed_in(email)
    page = await browser.get("/admin/connections" + query)
    assert page.status_code == 200, page.text
    return rows(page.text)


async def test_every_connection_shows_its_health(world: World) -> None:
    ids = world.ids
    assert await listed(world) == {
        ids["healthy"]: "healthy",
        ids["failing"]: "failing",
        ids["reconnect"]: "needs_reconnect",
        ids["expiring"]: "expiring",
        ids["notified"]: "syncing",
        ids["queued"]: "syncing",
        ids["polled"]: "healthy",
    }


async def test_failing_rows_show_the_last_error_and_expiring_rows_the_expiry(
    world: World,
) -> None:
    browser = await world.signed_in()
    page = await browser.get("/admin/connections?health=failing")
    assert "GraphUnavailable: 503 from Graph" in page.text
    page = await browser.get("/admin/connections?health=expiring")
    assert re.search(r"expires \d{4}-\d\d-\d\d \d\d:\d\d UTC \(in (59 min|1 h)\)", page.text)


@pytest.mark.parametrize(
    ("health", "keys"),
    [
        ("healthy", {"healthy", "polled"}),
        ("failing", {"failing"}),
        ("needs_reconnect", {"reconnect"}),
        ("expiring", {"expiring"}),
        ("syncing", {"notified", "queued"}),
    ],
)
async def test_health_filter(world: World, health: str, keys: set[str]) -> None:
    assert set(await listed(world, f"?health={health}")) == {world.ids[k] for k in keys}


async def test_provider_and_business_filters(world: World) -> None:
    ids = world.ids
    google = await listed(world, "?provider=google")
    assert set(google) == {ids[k] for k in ("healthy", "reconnect", "notified", "queued")}
    harbour = await listed(world, f"?business={world.harbour_id}")
    assert set(harbour) == {ids[k] for k in ("notified", "queued", "polled")}
    both = await listed(world, f"?business={world.harbour_id}&provider=microsoft&health=healthy")
    assert set(both) == {ids["polled"]}
    # Nonsense filter values are ignored, not errors.
    assert len(await listed(world, "?business=abc&health=bogus&provider=yahoo")) == 7


@pytest.mark.parametrize(
    ("search", "keys"),
    [
        ("carol", {"notified", "polled"}),  # member name
        ("DAVE@HARBOUR", {"queued"}),  # member email, any case
        ("bob@outlook.test", {"expiring"}),  # calendar account email
        ("Desk 1", {"expiring"}),  # resource
        ("harbour", {"notified", "queued", "polled"}),  # business
        ("cal-failing", {"failing"}),  # calendar id
        ("100%", set()),  # LIKE characters are literal
        ("_", set()),
    ],
)
async def test_search(world: World, search: str, keys: set[str]) -> None:
    browser = await world.signed_in()
    page = await browser.get("/admin/connections")
    page = await browser.submit(find_form(page.text, "/admin/connections"), q=search)
    assert page.status_code == 200
    assert set(rows(page.text)) == {world.ids[k] for k in keys}
    if not keys:
        assert "No connection matches" in page.text


async def test_search_by_id(world: World) -> None:
    ident = world.ids["polled"]
    assert set(await listed(world, f"?q={ident}")) == {ident}


async def test_summary_counts_per_business_and_provider(world: World) -> None:
    browser = await world.signed_in()
    page = await browser.get("/admin/connections")
    summary = page.text.split('id="summary"')[1].split("</section>")[0]
    cells = re.findall(
        r'<tr data-business="(\d+)" data-provider="(\w+)">(.*?)</tr>', summary, flags=re.S
    )
    counts = {
        (int(b), p): {s: int(n) for s, n in re.findall(r'data-state="(\w+)"[^>]*>(\d+)<', body)}
        for b, p, body in cells
    }
    riverside, harbour = world.space.business_id, world.harbour_id
    assert counts == {
        (riverside, "google"): {"healthy": 1, "needs_reconnect": 1},
        (riverside, "microsoft"): {"failing": 1, "expiring": 1},
        (harbour, "google"): {"syncing": 2},
        (harbour, "microsoft"): {"healthy": 1},
    }
    # Each count links to the list filtered to exactly those connections.
    link = re.search(
        rf'href="(/admin/connections\?business={harbour}&amp;provider=google&amp;health=syncing)"',
        summary,
    )
    assert link is not None
    page = await browser.get(link.group(1).replace("&amp;", "&"))
    assert set(rows(page.text)) == {world.ids["notified"], world.ids["queued"]}


async def test_health_follows_the_tables(world: World) -> None:
    """The list reads health live: a failing connection that syncs again is healthy,
    and a subscription that nears its end becomes 'expiring'."""
    async with world.database.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == world.ids["failing"])
            .values(health="healthy", last_error=None)
        )
        await conn.execute(
            update(Connection)
            .where(Connection.id == world.ids["healthy"])
            .values(subscription_expire_date=clock.now() + timedelta(hours=5))
        )
    states = await listed(world)
    assert states[world.ids["failing"]] == "healthy"
    assert states[world.ids["healthy"]] == "expiring"


@pytest.fixture
async def small_pages(
    settings: Settings, database: Database, member_password_hash: str
) -> AsyncIterator[World]:
    async for made in make_world(settings, database, member_password_hash, admin_page_size=3):
        yield made


async def test_paging_keeps_the_filters(small_pages: World) -> None:
    world = small_pages
    browser = await world.signed_in()
    page = await browser.get("/admin/connections")
    assert "7 connections · page 1 of 3" in page.text
    seen: list[int] = []
    while True:
        seen += list(rows(page.text))
        following = re.search(r'id="next" href="([^"]+)"', page.text)
        if following is None:
            break
        page = await browser.get(following.group(1).replace("&amp;", "&"))
    assert sorted(seen) == sorted(world.ids.values())
    assert len(seen) == len(set(seen))

    page = await browser.get("/admin/connections?provider=google&page=2")
    assert "4 connections · page 2 of 2" in page.text
    assert len(rows(page.text)) == 1
    previous = re.search(r'id="prev" href="([^"]+)"', page.text)
    assert previous is not None and "provider=google" in previous.group(1)
    # Past the end: the last page.
    page = await browser.get("/admin/connections?provider=google&page=99")
    assert "page 2 of 2" in page.text


async def test_the_connection_page_shows_fields_history_and_no_secret(world: World) -> None:
    browser = await world.signed_in()
    page = await browser.get(f"/admin/connections/{world.ids['healthy']}")
    assert page.status_code == 200
    text = page.text
    for expected in (
        "Meeting Room A · healthy",
        "Alice Member &lt;alice@example.com&gt;",
        "alice@gmail.test · active",
        "cal-healthy",
        "sub-healthy",
        "Sync cursor</dt><dd>stored",
    ):
        assert expected in text, expected
    history = text.split('id="history"')[1].split("</table>")[0]
    outcomes = re.findall(r'data-outcome="(\w+)"', history)
    assert outcomes == ["ok", "failed", "ok"]  # newest first
    assert "GraphUnavailable: 503 from Graph" in history
    assert "420 ms" in history
    assert "full" in history and "incremental" in history
    for secret in ("channel-token-never-shown", "secret-cursor-healthy"):
        assert secret not in text
    page = await browser.get("/admin/connections/999999")
    assert page.status_code == 404
    assert "There is no connection with that id" in page.text
    page = await browser.get("/admin/connections/not-a-number")
    assert page.status_code == 404
    page = await browser.get("/admin/no/such/page")
    assert page.status_code == 404
    assert "This page does not exist" in page.text
    assert page.headers["content-type"].startswith("text/html")


async def test_text_from_members_and_providers_is_escaped(world: World) -> None:
    hostile = '<script>alert("x")</script>'
    async with world.database.engine.begin() as conn:
        await conn.execute(
            update(Connection)
            .where(Connection.id == world.ids["failing"])
            .values(name=hostile, last_error=f"GraphError: {hostile}")
        )
    browser = await world.signed_in()
    for path in (
        "/admin/connections",
        f"/admin/connections/{world.ids['failing']}",
        "/admin/connections?q=%3Cscript%3E",
    ):
        page = await browser.get(path)
        assert page.status_code == 200
        assert "<script" not in page.text, path
        assert "&lt;script&gt;" in page.text, path
