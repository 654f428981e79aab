"""Mail intake tests (the `intake_env` fixture): spacecal's receiver (aiosmtpd) on
loopback in the test's event loop, Python's smtplib as the sending client (in a
thread: it blocks), the space of tests/support/portal.py, and DNS only from an
overrides file written per test."""

from __future__ import annotations

import asyncio
import base64
import json
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from tests.support.environments import SyncEnv

from spacecal.mail import addresses
from spacecal.mail.receiver import start_receiver
from spacecal.runner import TASK_MODULES  # noqa: F401  (registers the mail tasks)
from spacecal.sync.runtime import SyncRuntime

DOMAIN = "mail.riverside.test"


def invitation(
    *, sender: str = "alice@example.com", to: str = "room@example.com", size: int = 0
) -> bytes:
    """A small iMIP REQUEST (its calendar is mail-itip's business; intake only stores)."""
    padding = ("X" * 76 + "\r\n") * (size // 78) if size else ""
    return (
        f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: Planning\r\n"
        "Message-ID: <planning-1@example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/calendar; method=REQUEST; charset="utf-8"\r\n\r\n'
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:planning-1\r\nSEQUENCE:0\r\nDTSTAMP:20310115T090000Z\r\n"
        "DTSTART:20310116T100000Z\r\nDTEND:20310116T110000Z\r\nSUMMARY:Planning\r\n"
        f"ORGANIZER:mailto:{sender}\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{to}\r\n"
        f"END:VEVENT\r\nEND:VCALENDAR\r\n{padding}"
    ).encode()


@dataclass
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    record: str

    def sign(self, message: bytes) -> bytes:
        header = dkim.sign(
            message,
            self.selector.encode(),
            self.domain.encode(),
            self.private_pem,
            include_headers=[b"from", b"to", b"subject", b"message-id"],
        )
        return bytes(header) + message


def dkim_key(domain: str, selector: str = "s1") -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"
    return DkimKey(domain, selector, pem, record)


@dataclass
class IntakeEnv:
    sync: SyncEnv
    rt: SyncRuntime
    port: int
    dns_file: Path
    server: asyncio.Server
    records: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def engine(self) -> Any:
        return self.rt.db.engine

    def publish(self, name: str, *txt: str) -> None:
        """Put TXT records for `name` in the overrides file."""
        self.records[name] = {"TXT": list(txt)}
        self.dns_file.write_text(json.dumps(self.records), encoding="utf-8")

    async def address(self, coworker: int | None = None, resource: int | None = None) -> str:
        """The member's current address for the resource (alice, the room by default)."""
        space = self.sync.env.space
        async with self.engine.begin() as conn:
            slug = await addresses.slug_of(conn, resource or space.room_id)
            token = await addresses.current_token(
                conn, coworker or space.alice, resource or space.room_id
            )
        return addresses.address(slug, token, DOMAIN)

    async def send(
        self, rcpts: list[str], message: bytes, *, sender: str = "alice@example.com"
    ) -> dict[str, tuple[int, bytes]]:
        """Send over SMTP; the refused recipients (smtplib's answer) or raises."""

        def run() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
                refused: dict[str, tuple[int, bytes]] = client.sendmail(sender, rcpts, message)
                return refused

        return await asyncio.to_thread(run)

    async def stored(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT id, rcpt_to, resource_id, coworker_id, address_id, status,"
                    " outcome, size FROM mail_messages ORDER BY id"
                )
            )
            return [dict(r._mapping) for r in rows]

    async def mail_jobs(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT task_name, queueing_lock, args, status FROM procrastinate_jobs"
                    " WHERE queue_name = 'mail' ORDER BY id"
                )
            )
            return [dict(r._mapping) for r in rows]


async def start_mail_env(sync_env: SyncEnv, tmp_path: Path, **extra: Any) -> IntakeEnv:
    dns_file = tmp_path / "dns.json"
    dns_file.write_text("{}", encoding="utf-8")
    settings = sync_env.rt.settings.model_copy(
        update={"mail_domain": DOMAIN, "dns_overrides_file": dns_file, **extra}
    )
    rt = SyncRuntime(settings=settings, db=sync_env.rt.db, provider_for=sync_env.rt.provider_for)
    server = await start_receiver(rt.db.engine, settings, host="127.0.0.1", port=0)
    port = int(server.sockets[0].getsockname()[1])
    return IntakeEnv(sync_env, rt, port, dns_file, server)


@pytest.fixture
async def intake_env(sync_env: SyncEnv, tmp_path: Path) -> AsyncIterator[IntakeEnv]:
    env = await start_mail_env(sync_env, tmp_path)
    try:
        yield env
    finally:
        env.server.close()
        await env.server.wait_closed()
