"""Security review of the portal's sender addresses: the confirmation token never
reaches the access log; confirmation mails are limited per member and address."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from tests.mail.intake_support import DOMAIN
from tests.support.environments import Env, make_env
from tests.support.portal import Browser, forms

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.logs import REDACTED, configure, redact_path

TOKEN = "kQzPwXrTbHnMvLcYdJfGsAeUiOoWqErTyUiOpAsDfGh"  # no digit, like token_urlsafe can


@pytest.fixture
async def mail_portal(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[Env]:
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, mail_domain=DOMAIN
    ):
        yield env


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root, spacecal = logging.getLogger(), logging.getLogger("spacecal")
    saved = (root.level, spacecal.level)
    stream = io.StringIO()
    handler = configure("text", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        spacecal.setLevel(saved[1])


def test_the_confirmation_route_is_a_secret_route() -> None:
    path = f"/portal/invitations/senders/confirm/{TOKEN}?x=1"
    assert redact_path(path) == f"/portal/invitations/senders/confirm/{REDACTED}?x=1"


async def test_a_confirmation_token_never_reaches_the_logs(
    mail_portal: Env, captured_logs: io.StringIO
) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    await browser.get(f"/portal/invitations/senders/confirm/{TOKEN}")
    logged = captured_logs.getvalue()
    assert "GET /portal/invitations/senders/confirm/" in logged
    assert TOKEN not in logged
    assert f"/portal/invitations/senders/confirm/{REDACTED}" in logged


async def _add_sender(browser: Browser, address: str) -> str:
    assert browser.page is not None
    [form] = [f for f in forms(browser.page.text) if f.action == "/portal/invitations/senders"]
    return (await browser.submit(form, address=address)).text


async def _mailed(env: Env) -> list[str]:
    async with env.rt.db.engine.connect() as conn:
        rows = await conn.scalars(text("SELECT to_address FROM mail_outbox ORDER BY id"))
        return [str(r) for r in rows]


async def test_confirmation_mails_are_limited(mail_portal: Env) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    await browser.get("/portal/invitations")
    waiting = [f"alice{n}@work.example" for n in range(5)]  # the default limit
    for address in waiting:
        assert "We mailed a confirmation link" in await _add_sender(browser, address)
    page = await _add_sender(browser, "victim@elsewhere.example")
    assert "Too many addresses are waiting" in page
    # The same address again within the hour: no second mail.
    page = await _add_sender(browser, waiting[0])
    assert "less than an hour ago" in page
    assert await _mailed(mail_portal) == waiting
    # An hour on, that address may get a fresh link; removing one makes room.
    clock.clock.set(clock.now() + timedelta(hours=1, seconds=1))
    assert "We mailed a confirmation link" in await _add_sender(browser, waiting[0])
    assert (await _mailed(mail_portal))[-1] == waiting[0]
    async with mail_portal.rt.db.engine.begin() as conn:
        await conn.execute(text("DELETE FROM mail_senders WHERE address = :a"), {"a": waiting[1]})
    assert "We mailed a confirmation link" in await _add_sender(browser, "new@work.example")
