"""The invitation suites' world: the seeded space at the fixed start, spacecal's
outgoing relay played by an aiosmtpd sink on loopback (it captures what spacecal
sends, and can refuse), and invitations built in the shapes of tests/fixtures/imip.

Until mail-intake's receiver is merged, messages are handed to `handle_invitation`
as `ReceivedMessage` values directly (the contract between the two branches).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import text
from tests.support.database import reset_database
from tests.support.portal import Space, seed_space
from tests.support.timing import start_clocks

from spacecal import clock
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.mail.invitations import handle_invitation
from spacecal.mail.message import MailAuth, ReceivedMessage, Recipient
from spacecal.sync.runtime import SyncRuntime

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"
ROOM = "room-a+abcdefghijklmnop2345@book.riverside.test"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@partner.test"


def fixture(name: str) -> bytes:
    """A fixture as it travels: CRLF line ends (the files are kept with LF)."""
    return (FIXTURES / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class Sink:
    """An SMTP server playing spacecal's outgoing relay: captures every message, or
    answers 451 to the next `refuse` of them."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        data = envelope.original_content or b""
        self.received.append((envelope.mail_from or "", list(envelope.rcpt_tos), bytes(data)))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _, _, raw in self.received
        ]

    def replies(self) -> list[tuple[EmailMessage, str]]:
        """(message, its calendar text) of every captured iTIP message."""
        found = []
        for message in self.messages():
            for part in message.walk():
                if part.get_content_type() == "text/calendar":
                    found.append((message, part.get_content()))
        return found

    def confirmations(self) -> list[EmailMessage]:
        return [
            m
            for m in self.messages()
            if not any(p.get_content_type() == "text/calendar" for p in m.walk())
        ]


@dataclass
class MailEnv:
    rt: SyncRuntime
    space: Space
    sink: Sink
    next_id: list[int] = field(default_factory=lambda: [1])

    @property
    def engine(self) -> Any:
        return self.rt.db.engine

    def message(
        self,
        raw: bytes,
        *,
        sender: str = ALICE,
        address: str = ROOM,
        coworker: int | None = -1,
        address_id: int | None = 1,
        current: bool = True,
        dkim: tuple[str, ...] | None = None,
        dmarc: str = "pass",
        policy: str = "reject",
    ) -> ReceivedMessage:
        self.next_id[0] += 1
        return ReceivedMessage(
            id=self.next_id[0],
            raw=raw,
            recipient=Recipient(
                address=address,
                resource_id=self.space.room_id,
                coworker_id=self.space.alice if coworker == -1 else coworker,
                address_id=address_id,
                current=current,
            ),
            auth=MailAuth(
                from_address=sender,
                dkim_domains=dkim if dkim is not None else (sender.rpartition("@")[2],),
                dmarc=dmarc,
                dmarc_policy=policy,
            ),
        )

    async def handle(self, raw: bytes, **kwargs: Any) -> str:
        return await handle_invitation(self.rt, self.message(raw, **kwargs))

    async def bookings(self, live: bool = True) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(
                (
                    await conn.execute(
                        text(
                            "SELECT id, from_time, to_time, source, coworker_id, cancelled_at,"
                            " version FROM bookings WHERE (:all OR cancelled_at IS NULL)"
                            " ORDER BY from_time"
                        ),
                        {"all": not live},
                    )
                ).all()
            )


async def start_sink(sink: Sink) -> tuple[asyncio.AbstractServer, int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, int(port)


@pytest.fixture
async def mail_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: Any
) -> AsyncIterator[MailEnv]:
    await reset_database(database.engine)
    start_clocks(env_start)
    space = await seed_space(database.engine, member_password_hash)
    sink = Sink()
    server, port = await start_sink(sink)
    mail_settings = settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{port}", "public_url": "https://spacecal.test"}
    )

    def no_provider(name: str) -> Any:
        raise AssertionError(f"invitations never call a calendar provider ({name})")

    rt = SyncRuntime(settings=mail_settings, db=database, provider_for=no_provider)
    try:
        yield MailEnv(rt, space, sink)
    finally:
        server.close()
        await server.wait_closed()
        clock.clock.reset()


def invitation(
    *,
    method: str = "REQUEST",
    uid: str = "uid-1@client.test",
    sequence: int = 0,
    dtstamp: str = "20310115T100000Z",
    start: str = "20310116T140000",
    end: str = "20310116T150000",
    organizer: str = ALICE,
    attendees: tuple[str, ...] = (ALICE, ROOM),
    rrule: str | None = None,
    recurrence_id: str | None = None,
    sender: str = ALICE,
    summary: str = "Secret project kickoff",
    extra: str = "",
) -> bytes:
    """A Google-shaped invitation (multipart/alternative with the method= part)."""
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{dtstamp}",
        f"DTSTART;TZID=Europe/London:{start}",
        f"DTEND;TZID=Europe/London:{end}",
        f"ORGANIZER;CN=Organizer:mailto:{organizer}",
        *[f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}" for a in attendees],
        f"SUMMARY:{summary}",
        "DESCRIPTION:Only for the invitees",
    ]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if recurrence_id:
        lines.append(f"RECURRENCE-ID:{recurrence_id}")
    lines.append("END:VEVENT")
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
            "VERSION:2.0",
            f"METHOD:{method}",
            *lines,
            *([extra] if extra else []),
            "END:VCALENDAR",
            "",
        ]
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ROOM
    message["Subject"] = f"Invitation: {summary}"
    message.set_content("Invitation from Google Calendar")
    message.add_alternative(calendar, subtype="calendar", params={"method": method})
    return message.as_bytes(policy=email.policy.SMTP)
