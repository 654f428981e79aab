"""Invitation intake: how fast the SMTP receiver accepts invitations (each committed
with its job before the 250) and how fast workers process them.

    DATABASE_URL=postgresql://... uv run python -m bench.mail_intake [--messages 400]

In a fresh database on DATABASE_URL's server (dropped afterwards): one business,
one room, one member. `--clients` smtplib clients on loopback each send their share
of N invitations over one connection (one message per transaction, each to the
member's address for the room, each for its own half hour); then the real worker
(concurrency 4) processes them: DKIM/DMARC (DNS from an empty overrides file), the
invitation step, the booking. Prints accepted/s, the p50/p95 time from DATA to 250,
and processed/s.
"""

from __future__ import annotations

import argparse
import asyncio
import smtplib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.scratch import mail_settings, scratch_database
from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.mail import addresses
from spacecal.mail import jobs as mail_jobs
from spacecal.mail.message import ReceivedMessage
from spacecal.mail.receiver import start_receiver
from spacecal.runner import TASK_MODULES, run_worker  # noqa: F401  (registers the tasks)
from spacecal.sync.runtime import SyncRuntime

DOMAIN = "book.bench.test"


def _no_provider(name: str) -> object:
    raise RuntimeError("intake talks to no calendar provider")


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


def _send(port: int, to: str, numbers: list[int], start: datetime, out: list[float]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for n in numbers:
            message = _invitation(to, n, start)
            began = time.perf_counter()
            client.sendmail("member@bench.test", [to], message)
            out.append(time.perf_counter() - began)


async def _recorded_only(rt: SyncRuntime, message: ReceivedMessage) -> str:
    return "unprocessed"


async def _run(settings: Settings, messages: int, clients: int, intake_only: bool) -> None:
    if intake_only:  # the intake's own cost: checks and the outcome, no deciding
        mail_jobs.handle_invitation = _recorded_only  # type: ignore[assignment]
    db = await open_database(settings)
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO businesses (name, time_zone, max_booking_days_ahead, unique_id,"
                " created_on, updated_on) VALUES ('B', 'UTC', 90, %(u)s, now(), now())",
                {"u": uuid.uuid4()},
            )
            await conn.exec_driver_sql(
                "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
                " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
                " VALUES (1, 'Room', 'room', true, true, false, 15, %(u)s, now(), now())",
                {"u": uuid.uuid4()},
            )
            await conn.exec_driver_sql(
                "INSERT INTO coworkers (business_id, full_name, email, unique_id, created_on,"
                " updated_on) VALUES (1, 'Member', 'member@bench.test', %(u)s, now(), now())",
                {"u": uuid.uuid4()},
            )
            slug = await addresses.slug_of(conn, 1)
            to = addresses.address(slug, await addresses.current_token(conn, 1, 1), DOMAIN)
        server = await start_receiver(db.engine, settings, host="127.0.0.1", port=0)
        port = int(server.sockets[0].getsockname()[1])
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        latencies: list[float] = []
        shares = [list(range(i, messages, clients)) for i in range(clients)]
        began = time.perf_counter()
        # The clients block (smtplib): threads, while this loop serves the receiver.
        await asyncio.gather(
            *(asyncio.to_thread(_send, port, to, share, start, latencies) for share in shares)
        )
        accepted = time.perf_counter() - began
        server.close()
        await server.wait_closed()
        rt = SyncRuntime(settings=settings, db=db, provider_for=_no_provider)  # type: ignore[arg-type]
        began = time.perf_counter()
        await run_worker(rt, wait=False, periodic=False, concurrency=4)
        processed = time.perf_counter() - began
        async with db.engine.connect() as conn:
            outcomes = dict(
                (
                    await conn.exec_driver_sql(
                        "SELECT outcome, count(*) FROM mail_messages GROUP BY 1"
                    )
                ).all()
            )
        cuts = statistics.quantiles(latencies, n=20, method="inclusive")
        print(f"{messages} invitations, {clients} SMTP client(s) on loopback")
        print(
            f"  accepted: {messages / accepted:7.0f} messages/s  "
            f"DATA->250 p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {cuts[18] * 1000:.1f} ms"
        )
        print(f"  processed (worker, concurrency 4): {messages / processed:7.0f} messages/s")
        print(f"  outcomes: {outcomes}")
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--intake-only",
        action="store_true",
        help="process without deciding (the receiving side's own cost)",
    )
    args = parser.parse_args()
    with scratch_database("bench_mail") as url, tempfile.TemporaryDirectory() as tmp:
        settings = mail_settings(url, Path(tmp), DOMAIN)
        asyncio.run(_run(settings, args.messages, args.clients, args.intake_only))


if __name__ == "__main__":
    main()
