"""The portal's Invitations page: the member's addresses with a copy button, sender
addresses confirmed by a mailed link, a new address on request."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.mail.intake_support import DOMAIN, invitation
from tests.support.environments import Env, make_env
from tests.support.portal import Browser, find_form, forms

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.mail import addresses
from spacecal.mail.receiver import start_receiver
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime


@pytest.fixture
async def mail_portal(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[Env]:
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, mail_domain=DOMAIN
    ):
        yield env


async def _add_sender(browser: Browser, address: str) -> str:
    assert browser.page is not None
    [form] = [f for f in forms(browser.page.text) if f.action == "/portal/invitations/senders"]
    return (await browser.submit(form, address=address)).text


async def _outbox(env: Env) -> list[tuple[str, str]]:
    async with env.rt.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT to_address, body_text FROM mail_outbox"))
        return [(str(a), str(b)) for a, b in rows]


async def test_the_page_lists_each_resource_address_with_a_copy_button(mail_portal: Env) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    page = await browser.get("/portal/invitations")
    assert page.status_code == 200
    found = re.findall(r'value="([^"]+@' + re.escape(DOMAIN) + r')"', page.text)
    assert len(found) == 2  # the room and the desk
    space = mail_portal.space
    async with mail_portal.rt.db.engine.connect() as conn:
        room = await addresses.resolve(conn, found[1], DOMAIN)  # sorted: Desk 1, Meeting Room A
    assert room is not None and (room.coworker_id, room.resource_id) == (space.alice, space.room_id)
    assert found[1].startswith("meeting-room-a+")
    assert page.text.count('class="copy"') == 2
    assert '<script src="/portal/static/copy.js">' in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert (await browser.get("/portal/static/copy.js")).status_code == 200
    # Bob sees his own addresses, not Alice's.
    other = mail_portal.new_browser()
    await other.sign_in("bob@example.com")
    bobs = await other.get("/portal/invitations")
    assert not set(found) & set(re.findall(r'value="([^"]+@' + re.escape(DOMAIN) + ')"', bobs.text))
    await other.aclose()


async def test_a_sender_address_counts_once_its_mailed_link_is_opened(mail_portal: Env) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    await browser.get("/portal/invitations")
    added = await _add_sender(browser, "Alice@Work.Example")
    assert "We mailed a confirmation link" in added
    assert "waiting for you to open the link" in added
    [(to, body)] = await _outbox(mail_portal)
    assert to == "alice@work.example"
    link = re.search(r"https?://\S+/portal/invitations/senders/confirm/\S+", body)
    assert link is not None
    # Not signed in as Alice: the link confirms nothing.
    stranger = mail_portal.new_browser()
    answer = await stranger.get(link.group(0))
    assert "/portal/signin" in str(answer.url)
    await stranger.aclose()
    async with mail_portal.rt.db.engine.connect() as conn:
        from spacecal.mail.senders import verified_addresses

        assert await verified_addresses(conn, mail_portal.space.alice) == {"alice@example.com"}
    page = await browser.get(link.group(0))
    assert "Confirmed" in page.text
    async with mail_portal.rt.db.engine.connect() as conn:
        assert await verified_addresses(conn, mail_portal.space.alice) == {
            "alice@example.com",
            "alice@work.example",
        }
    page = await browser.get(link.group(0))  # used once
    assert "not valid any more" in page.text
    assert "not an email address" in await _add_sender(browser, "not an address")


async def test_a_new_address_replaces_the_old_one(mail_portal: Env) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    page = await browser.get("/portal/invitations")
    pattern = r'value="(meeting-room-a\+[^"]+)"'
    before = re.findall(pattern, page.text)
    form = find_form(page.text, "/portal/invitations/replace")
    room_id = str(mail_portal.space.room_id)
    page = await browser.submit(form, resource_id=room_id)
    assert "New address made" in page.text
    after = re.findall(pattern, page.text)
    assert before and after and before != after
    async with mail_portal.rt.db.engine.connect() as conn:
        old = await addresses.resolve(conn, before[0], DOMAIN)
    assert old is not None and old.current is False


async def test_recent_decisions_are_listed(mail_portal: Env, tmp_path: Path) -> None:
    dns_file = tmp_path / "dns.json"
    dns_file.write_text("{}")
    settings = mail_portal.rt.settings.model_copy(update={"dns_overrides_file": dns_file})
    rt = SyncRuntime(settings=settings, db=mail_portal.rt.db, provider_for=mail_portal.rt.provider)
    space = mail_portal.space
    async with rt.db.engine.begin() as conn:
        slug = await addresses.slug_of(conn, space.room_id)
        token = await addresses.current_token(conn, space.alice, space.room_id)
    to = addresses.address(slug, token, DOMAIN)
    server = await start_receiver(rt.db.engine, settings, host="127.0.0.1", port=0)
    port = int(server.sockets[0].getsockname()[1])

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("alice@example.com", [to], invitation(to=to))

    try:
        await asyncio.to_thread(send)
    finally:
        server.close()
        await server.wait_closed()
    await run_worker(rt, wait=False, periodic=False, concurrency=1)
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    page = await browser.get("/portal/invitations")
    assert "Recent invitations" in page.text
    [line] = re.findall(r'<li class="decision">(.*?)</li>', page.text)
    assert "Meeting Room A" in line and "accepted" in line
