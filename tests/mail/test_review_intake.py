"""Security review: one message naming the same address many times is stored once."""

from __future__ import annotations

from tests.mail.intake_support import IntakeEnv, invitation


async def test_repeated_recipients_are_stored_once(intake_env: IntakeEnv) -> None:
    to = await intake_env.address()
    spellings = [to, to.upper(), to, to.replace("+", "-")]
    assert await intake_env.send(spellings, invitation(to=to)) == {}  # each answered 250
    [row] = await intake_env.stored()
    assert row["rcpt_to"] == to
    assert len(await intake_env.mail_jobs()) == 1
