"""Invitation to reply: how long a member waits for the room's answer, end to end.

    DATABASE_URL=postgresql://... uv run python -m bench.mail_itip [--messages 200]

In a fresh database on DATABASE_URL's server (dropped afterwards): one business, one
room, one member. spacecal's SMTP receiver, a worker (concurrency 4, waiting for
jobs and polling every SPACECAL_WORKER_POLL_SECONDS as in production) and an aiosmtpd
sink playing the outgoing relay all run on loopback. `--clients` smtplib clients send
N invitations (each its own half hour, the organizer the member's registered address);
each is stored before 250, processed by the job (DKIM/DMARC from an empty overrides
file, the decision, the booking), and answered by an iTIP REPLY through the outgoing
queue. The clock of one invitation runs from the start of its SMTP transaction to the
REPLY's arrival at the sink. Prints invitations processed per second and the p50/p95
invitation-to-reply time (target: p95 <= 1 s). `--paced`: each client waits for its
REPLY before the next invitation, so the time is one invitation's, not a queue's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import smtplib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.scratch import mail_settings, scratch_database
from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.mail import addresses
from spacecal.mail.receiver import start_receiver
from spacecal.runner import TASK_MODULES, run_worker  # noqa: F401  (registers the tasks)
from spacecal.sync.runtime import SyncRuntime

DOMAIN = "book.bench.test"
_UID = re.compile(rb"UID:(bench-\d+)")


def _no_provider(name: str) -> object:
    raise RuntimeError("invitations talk to no calendar provider")


def _invitation(to: str, n: int, start: datetime) -> bytes:
    begin = (start + timedelta(minutes=30 * n)).strftime("%Y%m%dT%H%M%SZ")
    end = (start + timedelta(minutes=30 * n + 30)).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"From: Member <member@bench.test>\r\nTo: {to}\r\nSubject: Bench {n}\r\n"
        f"Message-ID: <bench-{n}@bench.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: text/calendar; method=REQUEST; charset="utf-8"\r\n\r\n'
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nMETHOD:REQUEST\r\n"
        f"BEGIN:VEVENT\r\nUID:bench-{n}\r\nSEQUENCE:0\r\nDTSTAMP:20300101T000000Z\r\n"
        f"DTSTART:{begin}\r\nDTEND:{end}\r\nSUMMARY:Bench\r\n"
        f"ORGANIZER:mailto:member@bench.test\r\nATTENDEE:mailto:{to}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class Sink:
    """The outgoing relay: notes when each invitation's REPLY arrived."""

    def __init__(self) -> None:
        self.replied: dict[str, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if b"METHOD:REPLY" in data:
            found = _UID.search(data)
            if found:
                self.replied[found.group(1).decode()] = time.perf_counter()
                if len(self.replied) >= self.expected:
                    self.done.set()
        return "250 OK"


def _send(
    port: int,
    to: str,
    numbers: list[int],
    start: datetime,
    sent: dict[str, float],
    paced: dict[str, float] | None = None,
) -> None:
    """Send; with `paced` (the sink's arrivals), wait for each REPLY before the next."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for n in numbers:
            uid = f"bench-{n}"
            sent[uid] = time.perf_counter()
            client.sendmail("member@bench.test", [to], _invitation(to, n, start))
            while paced is not None and uid not in paced:
                time.sleep(0.002)


async def _seed(settings: Settings) -> str:
    db = await open_database(settings)
    try:
        async with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO businesses (name, time_zone, max_booking_days_ahead, unique_id,"
                " created_on, updated_on) VALUES ('B', 'UTC', 90, %(u)s, now(), now())",
                "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
                " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
                " VALUES (1, 'Room', 'room', true, true, false, 15, %(u)s, now(), now())",
                "INSERT INTO coworkers (business_id, full_name, email, unique_id, created_on,"
                " updated_on) VALUES (1, 'Member', 'member@bench.test', %(u)s, now(), now())",
            ):
                await conn.exec_driver_sql(sql, {"u": uuid.uuid4()})
            slug = await addresses.slug_of(conn, 1)
            return addresses.address(slug, await addresses.current_token(conn, 1, 1), DOMAIN)
    finally:
        await db.dispose()


async def _run(settings: Settings, messages: int, clients: int, paced: bool) -> None:
    to = await _seed(settings)
    sink = Sink()
    sink.expected = messages
    loop = asyncio.get_running_loop()
    relay = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
    settings = settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{relay.sockets[0].getsockname()[1]}"}
    )
    db = await open_database(settings)
    worker: asyncio.Task[None] | None = None
    try:
        receiver = await start_receiver(db.engine, settings, host="127.0.0.1", port=0)
        port = int(receiver.sockets[0].getsockname()[1])
        rt = SyncRuntime(settings=settings, db=db, provider_for=_no_provider)  # type: ignore[arg-type]
        # As `spacecal worker` runs it (runner.keep_working): procrastinate's own default
        # poll is 5 s, and a job inserted while the worker's last fetch was finding
        # nothing can wait for that poll (its wake-up is cleared after each fetch).
        worker = asyncio.create_task(
            run_worker(
                rt,
                wait=True,
                periodic=False,
                concurrency=4,
                fetch_job_polling_interval=settings.worker_poll_seconds,
            )
        )
        await asyncio.sleep(1.0)  # the worker is listening
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        sent: dict[str, float] = {}
        shares = [list(range(i, messages, clients)) for i in range(clients)]
        began = time.perf_counter()
        await asyncio.gather(
            *(
                asyncio.to_thread(
                    _send, port, to, share, start, sent, sink.replied if paced else None
                )
                for share in shares
            )
        )
        await asyncio.wait_for(sink.done.wait(), timeout=max(60.0, messages * 0.5))
        elapsed = time.perf_counter() - began
        waits = [sink.replied[uid] - sent[uid] for uid in sent]
        cuts = statistics.quantiles(waits, n=20, method="inclusive")
        mode = "each waiting for its reply" if paced else "sending as fast as they can"
        print(f"{messages} invitations, {clients} SMTP client(s) {mode}, worker concurrency 4")
        print(f"  processed and answered: {messages / elapsed:7.1f} invitations/s")
        print(
            f"  invitation -> REPLY at the relay: p50 {statistics.median(waits) * 1000:.0f} ms,"
            f" p95 {cuts[18] * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms"
        )
        receiver.close()
        await receiver.wait_closed()
    finally:
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        relay.close()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--paced",
        action="store_true",
        help="each client waits for a REPLY before its next invitation (latency unqueued)",
    )
    args = parser.parse_args()
    with scratch_database("bench_itip") as url, tempfile.TemporaryDirectory() as tmp:
        settings = mail_settings(url, Path(tmp), DOMAIN)
        asyncio.run(_run(settings, args.messages, args.clients, args.paced))


if __name__ == "__main__":
    main()
