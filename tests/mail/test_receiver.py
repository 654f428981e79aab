"""The SMTP receiver over real SMTP on loopback: who it accepts, what it stores before
the 250, SIZE, STARTTLS. Never an open relay."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from pathlib import Path

import pytest
import trustme
from tests.mail.intake_support import DOMAIN, IntakeEnv, invitation, start_mail_env
from tests.support.environments import SyncEnv


async def test_an_accepted_message_is_stored_with_its_job_before_the_250(
    intake_env: IntakeEnv,
) -> None:
    to = await intake_env.address()
    refused = await intake_env.send([to], invitation(to=to))
    assert refused == {}
    # The 250 has been answered: the row and its job are already committed.
    [row] = await intake_env.stored()
    space = intake_env.sync.env.space
    assert (row["rcpt_to"], row["resource_id"], row["coworker_id"], row["status"]) == (
        to,
        space.room_id,
        space.alice,
        "queued",
    )
    [job] = await intake_env.mail_jobs()
    assert job["task_name"] == "spacecal.mail.process"
    assert job["args"] == {"message_id": row["id"]}
    assert job["status"] == "todo"


@pytest.mark.parametrize("sep", ["-", "."])
async def test_separators_and_case_reach_the_same_member(intake_env: IntakeEnv, sep: str) -> None:
    to = await intake_env.address()
    variant = to.replace("+", sep).upper()
    assert await intake_env.send([variant], invitation(to=variant)) == {}
    [row] = await intake_env.stored()
    assert row["coworker_id"] == intake_env.sync.env.space.alice
    assert row["rcpt_to"] == variant.lower()


async def test_unknown_recipients_and_other_domains_get_550(intake_env: IntakeEnv) -> None:
    to = await intake_env.address()
    wrong_token = to.split("+")[0] + "+" + "a" * 26 + "@" + DOMAIN
    for rcpt in (
        wrong_token,
        "nobody@" + DOMAIN,
        "meeting-room-a@" + DOMAIN,  # the plain address is off by default
        "someone@example.com",  # relaying
        to.replace(DOMAIN, "other." + DOMAIN),
    ):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            await intake_env.send([rcpt], invitation(to=rcpt))
        [(code, _)] = refused.value.recipients.values()
        assert code == 550, rcpt
    assert await intake_env.stored() == []
    assert await intake_env.mail_jobs() == []


async def test_a_message_to_a_known_and_an_unknown_address_is_stored_once(
    intake_env: IntakeEnv,
) -> None:
    to = await intake_env.address()
    stranger = "x+" + "b" * 26 + "@" + DOMAIN
    refused = await intake_env.send([to, stranger], invitation(to=to))
    assert list(refused) == [stranger] and refused[stranger][0] == 550
    assert [r["rcpt_to"] for r in await intake_env.stored()] == [to]


async def test_size_is_advertised_and_a_30_mib_message_is_refused_before_storing(
    intake_env: IntakeEnv,
) -> None:
    to = await intake_env.address()
    limit = intake_env.rt.settings.smtp_max_bytes
    assert limit == 10 * 1024 * 1024

    def ehlo() -> str:
        with smtplib.SMTP("127.0.0.1", intake_env.port, timeout=30) as client:
            client.ehlo()
            return client.esmtp_features.get("size", "")

    assert await asyncio.to_thread(ehlo) == str(limit)
    big = invitation(to=to, size=30 * 1024 * 1024)

    def send_without_size() -> tuple[int, bytes]:
        # Not declaring SIZE: the limit is enforced while the data arrives.
        with smtplib.SMTP("127.0.0.1", intake_env.port, timeout=120) as client:
            client.ehlo()
            client.esmtp_features.pop("size", None)
            client.mail("alice@example.com")
            client.rcpt(to)
            return client.data(big)

    code, _ = await asyncio.to_thread(send_without_size)
    assert code == 552
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:
        await intake_env.send([to], big)  # smtplib declares SIZE=...: refused at MAIL FROM
    assert declared.value.smtp_code == 552
    assert await intake_env.stored() == []
    assert await intake_env.mail_jobs() == []


async def test_starttls_with_the_configured_certificate(sync_env: SyncEnv, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert(DOMAIN, "127.0.0.1")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    env = await start_mail_env(sync_env, tmp_path, smtp_tls_cert=cert_file, smtp_tls_key=key_file)
    to = await env.address()
    context = ssl.create_default_context()
    ca.configure_trust(context)

    def send() -> str:
        with smtplib.SMTP("127.0.0.1", env.port, timeout=30) as client:
            client.ehlo(DOMAIN)
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo(DOMAIN)
            client.sendmail("alice@example.com", [to], invitation(to=to))
            sock = client.sock
            assert isinstance(sock, ssl.SSLSocket)
            return str(sock.version())

    try:
        assert (await asyncio.to_thread(send)).startswith("TLS")
        assert len(await env.stored()) == 1
    finally:
        env.server.close()
        await env.server.wait_closed()
