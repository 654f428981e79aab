"""The console's Mail page shows intake health: outcomes, waiting messages, failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from tests.admin.conftest import sign_in
from tests.mail.intake_support import IntakeEnv, invitation

from spacecal import clock
from spacecal.runner import run_worker


async def test_the_mail_page_shows_outcomes_waiting_and_failures(intake_env: IntakeEnv) -> None:
    env = intake_env.sync.env
    browser = env.new_browser()
    await sign_in(browser, "admin@example.com")
    to = await intake_env.address()
    await intake_env.send([to], invitation(to=to))
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    await intake_env.send([to], invitation(to=to))  # not processed yet
    page = await browser.get("/admin/mail")
    assert page.status_code == 200, page.text
    assert 'data-state="healthy"' in page.text
    assert '<tr data-outcome="booked"><td>booked</td><td class="num">1</td>' in page.text
    assert '<tr data-outcome="queued"><td>queued</td><td class="num">1</td>' in page.text
    # Nobody works the mail queue for a while: the page says so.
    clock.clock.advance(timedelta(minutes=11))
    page = await browser.get("/admin/mail")
    assert 'data-state="stuck"' in page.text
    assert "check that a worker runs" in page.text
    async with intake_env.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE mail_messages SET status = 'failed', outcome = 'error',"
                " error = 'RuntimeError', processed_at = received_at WHERE status = 'queued'"
            )
        )
    page = await browser.get("/admin/mail")
    assert 'data-state="failing"' in page.text
    assert "<td>RuntimeError</td>" in page.text
    await browser.aclose()
