"""The connection page's buttons, end to end: a member connects through the portal and
the emulators, an admin presses resync now, renew now and disconnect in the console,
the worker runs what was queued, and the database and the provider show the effect.
Plus the cases the buttons must explain instead of doing: an account that needs
reconnecting, a polled calendar with nothing to renew, a disconnect not confirmed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.admin.conftest import World
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import PROVIDERS, KeepEnv
from tests.support.portal import Browser, find_form

from spacecal.db.models import Connection, SubscriptionGeneration, SyncRun


async def _admin(k: KeepEnv) -> Browser:
    browser = k.env.new_browser()
    page = await browser.get("/admin/signin")
    page = await browser.post_form("/admin/signin", email="admin@example.com", password=_pw())
    assert str(page.url).endswith("/admin/connections"), page.text
    return browser


def _pw() -> str:
    from tests.support.portal import PASSWORD

    return PASSWORD


async def _press(browser: Browser, connection_id: int, button: str, **extra: str) -> Any:
    page = await browser.get(f"/admin/connections/{connection_id}")
    assert page.status_code == 200, page.text
    form = find_form(page.text, f"/{button}")
    form.fields.pop("confirm", None)  # a checkbox is sent only when ticked (extra says so)
    return await browser.submit(form, **extra)


async def _connection(k: KeepEnv, provider: str) -> Any:
    async with k.engine.connect() as conn:
        return (
            await conn.execute(select(Connection).where(Connection.provider == provider))
        ).first()


async def _runs(k: KeepEnv, connection_id: int) -> list[Any]:
    async with k.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(SyncRun)
                    .where(SyncRun.connection_id == connection_id)
                    .order_by(SyncRun.id)
                )
            ).all()
        )


async def _queued_keepalives(k: KeepEnv, connection_id: int) -> int:
    async with k.engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"
                    " AND task_name = 'spacecal.keepalive' AND queueing_lock = :lock"
                ),
                {"lock": f"renew:{connection_id}"},
            )
            or 0
        )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_resync_now_runs_a_full_pull(keep_env: KeepEnv, provider: str) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    start = tomorrow_at(10)
    member.create("Planning", start, start + timedelta(hours=1))
    await k.settle()
    assert len(await live_bookings(k)) == 1
    row = await _connection(k, provider)
    runs_before = await _runs(k, row.id)

    admin = await _admin(k)
    page = await _press(admin, row.id, "resync")
    assert "Resync queued" in page.text
    assert "A resync is requested and not done yet." in page.text
    after = await _connection(k, provider)
    assert after.resync_requested is True
    assert await _queued_keepalives(k, row.id) == 1

    await k.settle()
    after = await _connection(k, provider)
    assert after.resync_requested is False
    runs = await _runs(k, row.id)
    assert len(runs) > len(runs_before)
    assert runs[-1].full_sync is True and runs[-1].outcome == "ok"
    assert len(await live_bookings(k)) == 1  # a full pull changes nothing that was right
    page = await admin.get(f"/admin/connections/{row.id}")
    history = page.text.split('id="history"')[1]
    assert re.search(r'data-outcome="ok">.*?<td>full</td>', history, flags=re.S)
    assert 'id="health">Healthy<' in page.text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_renew_now_renews_the_subscription(keep_env: KeepEnv, provider: str) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    before = await _connection(k, provider)
    await k.advance(timedelta(hours=1))  # so a renewed expiry is visibly later

    admin = await _admin(k)
    page = await _press(admin, before.id, "renew")
    assert "Renewal queued" in page.text
    assert (await _connection(k, provider)).renew_requested is True
    await k.settle()

    after = await _connection(k, provider)
    assert after.renew_requested is False
    assert after.subscription_expire_date > before.subscription_expire_date
    live = k.live_at_provider(provider, member.calendar_id)
    assert live == [after.subscription_id]
    if provider == "google":
        assert after.subscription_id != before.subscription_id  # a new channel...
        async with k.engine.connect() as conn:
            old = await conn.scalar(
                select(SubscriptionGeneration.status).where(
                    SubscriptionGeneration.subscription_id == before.subscription_id
                )
            )
        assert old == "stopped"  # ...and the old one stopped


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_disconnect_stops_push_and_keeps_bookings(keep_env: KeepEnv, provider: str) -> None:
    k = keep_env
    member = await k.connect(provider)
    await k.settle()
    start = tomorrow_at(11)
    member.create("Kept", start, start + timedelta(hours=1))
    await k.settle()
    row = await _connection(k, provider)
    assert k.live_at_provider(provider, member.calendar_id)

    admin = await _admin(k)
    page = await _press(admin, row.id, "disconnect")  # the box not ticked
    assert "Tick the box to confirm the disconnect" in page.text
    assert await _connection(k, provider) is not None

    page = await _press(admin, row.id, "disconnect", confirm="yes")
    assert str(page.url).endswith("/admin/connections?notice=disconnected")
    assert "Disconnected: spacecal stopped watching that calendar" in page.text
    assert await _connection(k, provider) is None
    assert k.live_at_provider(provider, member.calendar_id) == []
    assert len(await live_bookings(k)) == 1  # bookings stay
    page = await admin.get(f"/admin/connections/{row.id}")
    assert page.status_code == 404


async def test_buttons_on_a_connection_that_needs_reconnecting_wait_for_it(world: World) -> None:
    browser = await world.signed_in()
    ident = world.ids["reconnect"]
    page = await _press(browser, ident, "resync")
    assert "account needs reconnecting first" in page.text
    row = await world.row("reconnect")
    assert row.resync_requested is True  # done by the keep-alive job after the reconnect
    assert [j.task_name for j in await world.jobs()] == ["spacecal.reconcile"]  # nothing new


async def test_renew_of_a_polled_calendar_explains_there_is_nothing_to_renew(
    world: World,
) -> None:
    browser = await world.signed_in()
    ident = world.ids["polled"]
    page = await browser.get(f"/admin/connections/{ident}")
    assert re.search(r'id="renew"[^>]*disabled', page.text)
    page = await browser.submit(find_form(page.text, "/renew"))
    assert "Nothing to renew" in page.text
    assert (await world.row("polled")).renew_requested is False
    page = await _press(browser, ident, "resync")
    assert "Resync queued" in page.text
    jobs = [j for j in await world.jobs() if j.task_name == "spacecal.keepalive"]
    assert [(j.queueing_lock, j.status) for j in jobs] == [(f"renew:{ident}", "todo")]


async def test_a_second_press_while_queued_is_one_job(world: World) -> None:
    browser = await world.signed_in()
    ident = world.ids["healthy"]
    for _ in range(3):
        page = await _press(browser, ident, "resync")
        assert "Resync queued" in page.text
    jobs = [j for j in await world.jobs() if j.task_name == "spacecal.keepalive"]
    assert len(jobs) == 1
    assert jobs[0].args == {"connection_id": ident}
