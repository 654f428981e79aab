"""Crash safety of invitation intake: a message answered 250 is processed even when
the receiver dies right after answering (a real `spacecal mail` process, SIGKILLed),
and a processing job whose worker died is queued again by stalled-job recovery."""

from __future__ import annotations

import asyncio
import os
import smtplib
import socket
import time
from pathlib import Path

from sqlalchemy import text
from tests.mail.intake_support import DOMAIN, invitation
from tests.support.database import TEST_KEY
from tests.support.environments import SyncEnv
from tests.support.procs import SPACECAL, free_port, new_temp_dir, spawn
from tests.support.timing import fleet_offset

from spacecal.jobs import names
from spacecal.jobs.app import make_app
from spacecal.jobs.periodic import recover_stalled
from spacecal.mail import addresses
from spacecal.mail.store import defer_processing
from spacecal.runner import TASK_MODULES, run_worker  # noqa: F401  (registers the tasks)
from spacecal.sync.runtime import SyncRuntime


def _wait_listening(port: int, proc_alive: object, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert callable(proc_alive) and proc_alive(), log.read_text(errors="replace")
            time.sleep(0.1)
    raise AssertionError(f"spacecal mail never listened:\n{log.read_text(errors='replace')}")


def _runtime(sync_env: SyncEnv, dns_file: Path) -> SyncRuntime:
    settings = sync_env.rt.settings.model_copy(
        update={"mail_domain": DOMAIN, "dns_overrides_file": dns_file}
    )
    return SyncRuntime(settings=settings, db=sync_env.rt.db, provider_for=sync_env.rt.provider_for)


async def test_a_message_answered_250_survives_the_receiver_killed_right_after(
    sync_env: SyncEnv, tmp_path: Path
) -> None:
    dns_file = tmp_path / "dns.json"
    dns_file.write_text("{}")
    rt = _runtime(sync_env, dns_file)
    space = sync_env.env.space
    async with rt.db.engine.begin() as conn:
        slug = await addresses.slug_of(conn, space.room_id)
        to = addresses.address(
            slug, await addresses.current_token(conn, space.alice, space.room_id), DOMAIN
        )
    port = free_port()
    root = new_temp_dir("mail")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")},
        "DATABASE_URL": str(rt.settings.database_url),
        "SPACECAL_SECRET_KEYS": TEST_KEY,
        "SPACECAL_DATA_DIR": str(root / "data"),
        "SPACECAL_MAIL_DOMAIN": DOMAIN,
        "SPACECAL_SMTP_LISTEN": f"127.0.0.1:{port}",
        "SPACECAL_DNS_OVERRIDES_FILE": str(dns_file),
        "SPACECAL_CLOCK_OFFSET_SECONDS": str(fleet_offset().total_seconds()),
    }
    proc = spawn("mail", [SPACECAL, "mail"], env, root)
    try:
        await asyncio.to_thread(_wait_listening, port, proc.alive, proc.log)

        def send_then_kill() -> tuple[int, bytes]:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.ehlo()
                client.mail("alice@example.com")
                client.rcpt(to)
                answer = client.data(invitation(to=to))
                proc.kill()  # SIGKILL at once: nothing after the 250 runs
                return answer

        code, _ = await asyncio.to_thread(send_then_kill)
        assert code == 250
        assert not proc.alive()
    finally:
        proc.kill()
    # Only the database remembers it: a worker (here in-process) processes it.
    await run_worker(rt, wait=False, periodic=False, concurrency=1)
    async with rt.db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, outcome FROM mail_messages"))).one()
        sources = (
            (await conn.execute(text("SELECT source FROM bookings WHERE cancelled_at IS NULL")))
            .scalars()
            .all()
        )
    assert tuple(row) == ("done", "booked")
    assert sources == ["invitation"]


async def test_a_processing_job_of_a_dead_worker_is_queued_again(
    sync_env: SyncEnv, tmp_path: Path
) -> None:
    dns_file = tmp_path / "dns.json"
    dns_file.write_text("{}")
    rt = _runtime(sync_env, dns_file)
    space = sync_env.env.space
    async with rt.db.engine.begin() as conn:
        slug = await addresses.slug_of(conn, space.room_id)
        to = addresses.address(
            slug, await addresses.current_token(conn, space.alice, space.room_id), DOMAIN
        )
        message_id = await conn.scalar(
            text(
                "INSERT INTO mail_messages (received_at, mail_from, rcpt_to, resource_id,"
                " coworker_id, address_id, peer, size, raw) SELECT now(), 'alice@example.com',"
                " :to, resource_id, coworker_id, id, '127.0.0.1', 1, :raw"
                " FROM invitation_addresses WHERE token = :token RETURNING id"
            ),
            {"to": to, "raw": invitation(to=to), "token": to.split("+")[1].split("@")[0]},
        )
        await defer_processing(conn, int(message_id))
        worker = await conn.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - make_interval(secs => 600)) RETURNING id"
            )
        )
        await conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :w"
                " WHERE task_name = :task"
            ),
            {"w": worker, "task": names.PROCESS_MAIL},
        )
    app = make_app(rt.db.url, periodic=False)
    shrunk = rt.settings.model_copy(update={"stalled_job_seconds": 30.0})
    stalled_rt = SyncRuntime(settings=shrunk, db=rt.db, provider_for=rt.provider_for)
    async with app.open_async():
        assert await recover_stalled(stalled_rt, app) == 1
    await run_worker(rt, wait=False, periodic=False, concurrency=1)
    async with rt.db.engine.connect() as conn:
        statuses = (
            (
                await conn.execute(
                    text(
                        "SELECT status::text FROM procrastinate_jobs WHERE task_name = :t"
                        " ORDER BY id"
                    ),
                    {"t": names.PROCESS_MAIL},
                )
            )
            .scalars()
            .all()
        )
        outcome = await conn.scalar(text("SELECT outcome FROM mail_messages"))
    assert statuses == ["failed", "succeeded"]
    assert outcome == "booked"
