"""The outgoing queue: durable rows sent through SPACECAL_SMTP_URL, retried with
backoff when the relay refuses, DKIM-signed when a key is configured; the relay's
password never reaches a stored error or a log."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from tests.mail.support import ALICE, ROOM, MailEnv, invitation

from spacecal import clock
from spacecal.mail import outbox
from spacecal.mail.smtp import parse_relay


async def _rows(env: MailEnv) -> list[Any]:
    async with env.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    text(
                        "SELECT id, attempts, next_attempt_at, sent_at, failed_at, last_error"
                        " FROM mail_outbox ORDER BY id"
                    )
                )
            ).all()
        )


async def test_a_refusing_relay_is_retried_with_backoff(mail_env: MailEnv) -> None:
    mail_env.sink.refuse = 10
    assert await mail_env.handle(invitation()) == "booked"  # the decision stands
    rows = await _rows(mail_env)
    assert len(rows) == 2 and all(r.sent_at is None for r in rows)
    base = mail_env.rt.settings.mail_backoff_base_seconds
    first = rows[0]
    assert first.attempts == 1 and "451" in first.last_error
    assert first.next_attempt_at - clock.now() <= timedelta(seconds=base)
    assert first.next_attempt_at - clock.now() > timedelta(seconds=base * 0.5)
    # Not due yet: nothing is tried.
    assert await outbox.send_due(mail_env.rt) == outbox.SendResult(0, 0)
    clock.clock.set(clock.now() + timedelta(seconds=base + 1))
    mail_env.sink.refuse = 2
    assert await outbox.send_due(mail_env.rt) == outbox.SendResult(0, 2)
    rows = await _rows(mail_env)
    assert all(r.attempts == 2 for r in rows)
    # The second wait doubles.
    assert rows[0].next_attempt_at - clock.now() > timedelta(seconds=base * 1.5)
    clock.clock.set(clock.now() + timedelta(seconds=2 * base + 1))
    assert await outbox.send_due(mail_env.rt) == outbox.SendResult(2, 0)
    assert all(r.sent_at is not None for r in await _rows(mail_env))
    assert {tos[0] for _, tos, _ in mail_env.sink.received} == {ALICE}


async def test_a_message_is_given_up_after_the_last_attempt(mail_env: MailEnv) -> None:
    mail_env.rt.settings = mail_env.rt.settings.model_copy(update={"mail_max_attempts": 2})
    mail_env.sink.refuse = 100
    async with mail_env.engine.begin() as conn:
        await outbox.queue_mail(conn, to=ALICE, from_address=ROOM, subject="s", text="t")
    for _ in range(3):
        await outbox.send_due(mail_env.rt)
        clock.clock.set(clock.now() + timedelta(hours=2))
    [row] = await _rows(mail_env)
    assert row.attempts == 2 and row.failed_at is not None and row.sent_at is None


async def test_outgoing_mail_is_dkim_signed_and_verifies(mail_env: MailEnv, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "dkim.pem").write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    mail_env.rt.settings = mail_env.rt.settings.model_copy(
        update={"dkim_key_file": tmp_path / "dkim.pem", "dkim_selector": "sc2031"}
    )
    assert await mail_env.handle(invitation()) == "booked"
    assert len(mail_env.sink.received) == 2

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == b"sc2031._domainkey.book.riverside.test." else b""

    for _, _, raw in mail_env.sink.received:
        assert raw.startswith(b"DKIM-Signature:")
        assert dkim.verify(raw, dnsfunc=dns)
        # Tampering breaks it: the check can fail.
        assert b"\nSubject: " in raw
        assert not dkim.verify(raw.replace(b"\nSubject: ", b"\nSubject: Re: ", 1), dnsfunc=dns)


async def test_the_relay_password_never_reaches_errors_or_logs(
    mail_env: MailEnv, caplog: pytest.LogCaptureFixture
) -> None:
    relay = parse_relay("smtp://spacecal%40space.test:hunter2-secret@127.0.0.1:1/")
    assert relay.password == "hunter2-secret" and relay.username == "spacecal@space.test"
    assert "hunter2" not in repr(relay)
    mail_env.rt.settings = mail_env.rt.settings.model_copy(
        update={"smtp_url": "smtp://spacecal:hunter2-secret@127.0.0.1:1", "mail_timeout_seconds": 2}
    )
    with caplog.at_level(logging.DEBUG):
        assert await mail_env.handle(invitation()) == "booked"
    rows = await _rows(mail_env)
    assert rows and all("127.0.0.1:1" in r.last_error for r in rows)
    assert not any("hunter2" in (r.last_error or "") for r in rows)
    assert "hunter2" not in caplog.text


async def test_recent_decisions_for_the_portal(mail_env: MailEnv) -> None:
    await mail_env.handle(invitation())
    await mail_env.handle(
        invitation(uid="b@client.test", start="20310116T023000", end="20310116T033000")
    )
    async with mail_env.engine.connect() as conn:
        decisions = await outbox.recent_decisions(conn, mail_env.space.alice)
    assert [d.status for d in decisions] == ["declined", "accepted"]
    assert decisions[0].reason.startswith("Not booked:")
    assert decisions[1].booking_id is not None


async def test_a_job_dying_before_sending_leaves_its_mail_to_the_periodic_pass(
    mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deciding transaction leased the REPLY and the confirmation; the process
    # "dies" before sending them. The periodic pass leaves them while the lease holds
    # (another worker may still be sending them), and sends them once it has run out.
    async def died(*_: object) -> outbox.SendResult:
        raise RuntimeError("worker killed")

    monkeypatch.setattr(outbox, "send_leased", died)
    assert await mail_env.handle(invitation()) == "booked"
    monkeypatch.undo()
    assert mail_env.sink.received == []
    assert [r.attempts for r in await _rows(mail_env)] == [1, 1]
    assert (await outbox.send_due(mail_env.rt)).sent == 0
    lease = timedelta(seconds=mail_env.rt.settings.mail_timeout_seconds * 2)
    clock.clock.set(clock.now() + lease)
    assert (await outbox.send_due(mail_env.rt)).sent == 2
    assert len(mail_env.sink.replies()) == 1
    assert [m["To"] for m in mail_env.sink.confirmations()] == [ALICE]
