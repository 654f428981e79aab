"""The processing job: a stored message becomes a ReceivedMessage with what its
domain vouched for, goes to the invitation step, and its outcome is recorded and
counted; pruning after SPACECAL_MAIL_KEEP_DAYS."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from tests.mail.intake_support import IntakeEnv, dkim_key, invitation
from tests.support.timing import START

from spacecal import clock
from spacecal.mail import jobs as mail_jobs
from spacecal.mail.message import ReceivedMessage
from spacecal.mail.store import prune
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime


@pytest.fixture
def decided(monkeypatch: pytest.MonkeyPatch) -> list[ReceivedMessage]:
    """What reached the invitation step (mail-itip's); each is answered 'booked'."""
    seen: list[ReceivedMessage] = []

    async def handle(
        rt: SyncRuntime,
        message: ReceivedMessage,
        *,
        record: Callable[[AsyncConnection, str], Awaitable[None]] | None = None,
    ) -> str:
        seen.append(message)
        if record is not None:  # the outcome is recorded in the deciding transaction
            async with rt.db.engine.begin() as conn:
                await record(conn, "booked")
        return "booked"

    monkeypatch.setattr(mail_jobs, "handle_invitation", handle)
    return seen


async def test_a_signed_invitation_is_processed_with_its_auth(
    intake_env: IntakeEnv, decided: list[ReceivedMessage]
) -> None:
    key = dkim_key("example.com")
    intake_env.publish("s1._domainkey.example.com", key.record)
    intake_env.publish("_dmarc.example.com", "v=DMARC1; p=reject")
    to = await intake_env.address()
    raw = key.sign(invitation(to=to))
    await intake_env.send([to], raw)
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    [message] = decided
    assert message.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    space = intake_env.sync.env.space
    assert (message.recipient.coworker_id, message.recipient.resource_id) == (
        space.alice,
        space.room_id,
    )
    assert message.recipient.current
    assert message.auth.dkim_domains == ("example.com",)
    assert (message.auth.dmarc, message.auth.refused_by_policy) == ("pass", False)
    [row] = await intake_env.stored()
    assert (row["status"], row["outcome"]) == ("done", "booked")
    # Done twice is done once.
    assert await mail_jobs.process(intake_env.rt, row["id"]) is None
    assert len(decided) == 1


async def test_a_forged_sender_reaches_the_step_refused_by_policy(
    intake_env: IntakeEnv, decided: list[ReceivedMessage]
) -> None:
    intake_env.publish("_dmarc.example.com", "v=DMARC1; p=reject")
    to = await intake_env.address()
    await intake_env.send([to], invitation(to=to), sender="mallory@forger.test")
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    [message] = decided
    assert message.auth.from_address == "alice@example.com"
    assert message.auth.refused_by_policy


async def test_a_replaced_token_arrives_as_not_current(
    intake_env: IntakeEnv, decided: list[ReceivedMessage]
) -> None:
    from spacecal.mail import addresses

    to = await intake_env.address()
    space = intake_env.sync.env.space
    async with intake_env.engine.begin() as conn:
        await addresses.replace_token(conn, space.alice, space.room_id)
    await intake_env.send([to], invitation(to=to))
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    assert [m.recipient.current for m in decided] == [False]


async def test_the_outcome_is_recorded_and_counted_in_metrics(intake_env: IntakeEnv) -> None:
    to = await intake_env.address()
    await intake_env.send([to], invitation(to=to))
    assert await _metric(intake_env, 'spacecal_mail_kept_messages{outcome="queued"}') == 1.0
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    [row] = await intake_env.stored()
    assert row["status"] == "done"
    outcome = row["outcome"]
    assert outcome == "booked"  # alice's own invitation, no DMARC record to refuse it
    sample = f'spacecal_mail_messages_total{{outcome="{outcome}"}}'
    assert await _metric(intake_env, sample) >= 1.0
    assert await _metric(intake_env, f'spacecal_mail_kept_messages{{outcome="{outcome}"}}') == 1.0
    assert await _metric(intake_env, 'spacecal_mail_kept_messages{outcome="queued"}') == 0.0


async def _metric(env: IntakeEnv, sample: str) -> float:
    answer = await env.sync.env.api.get("/metrics")
    assert answer.status_code == 200
    for line in answer.text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0


async def test_pruning_after_keep_days(intake_env: IntakeEnv) -> None:
    assert clock.now() - START < timedelta(minutes=5)  # the fixed start
    to = await intake_env.address()
    await intake_env.send([to], invitation(to=to))
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    clock.clock.advance(timedelta(days=10))
    await intake_env.send([to], invitation(to=to))  # waits: a trigger is never pruned
    keep = intake_env.rt.settings.mail_keep_days
    assert keep == 30
    clock.clock.advance(timedelta(days=keep - 10, minutes=-1))
    assert await prune(intake_env.engine, keep) == 0
    clock.clock.advance(timedelta(minutes=2))
    assert await prune(intake_env.engine, keep) == 1
    async with intake_env.engine.connect() as conn:
        left = (await conn.execute(text("SELECT status FROM mail_messages"))).scalars().all()
    assert left == ["queued"]
    clock.clock.advance(timedelta(days=keep))
    assert await prune(intake_env.engine, keep) == 0  # still waiting to be processed


async def test_a_dns_failure_waits_and_is_given_up_after_a_day(
    intake_env: IntakeEnv, monkeypatch: pytest.MonkeyPatch, decided: list[ReceivedMessage]
) -> None:
    from spacecal.mail import dns

    class Failing:
        def txt(self, name: str) -> list[str]:
            raise dns.DnsUnavailable(f"DNS lookup of {name} failed: Timeout")

    monkeypatch.setattr(dns, "resolver_for", lambda settings: Failing())
    to = await intake_env.address()
    await intake_env.send([to], invitation(to=to))
    [row] = await intake_env.stored()
    await run_worker(intake_env.rt, wait=False, periodic=False, concurrency=1)
    jobs = await intake_env.mail_jobs()
    assert [j["status"] for j in jobs] == ["succeeded", "todo"]  # a retry, 5 minutes on
    assert (await intake_env.stored())[0]["status"] == "queued"
    clock.clock.advance(timedelta(days=1, minutes=1))
    assert await mail_jobs.process(intake_env.rt, row["id"]) == "dns-unavailable"
    [row] = await intake_env.stored()
    assert (row["status"], row["outcome"]) == ("failed", "dns-unavailable")
    assert decided == []
