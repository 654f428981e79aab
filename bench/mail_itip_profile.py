"""One invitation's processing, measured alone: what the worker's job costs.

    DATABASE_URL=postgresql://... uv run python -m bench.mail_itip_profile [--messages 80]
        [--profile]

In a fresh database on DATABASE_URL's server (dropped afterwards), seeded as
bench/mail_itip.py seeds it, N invitations are stored, then processed one after
another by the job's body (`mail.jobs.process`: DKIM/DMARC check, decision, booking,
the REPLY and the confirmation sent to an aiosmtpd relay on loopback), with no
worker, receiver or client competing for the process. Prints, per invitation, the
wall and CPU time, the SQL statements and the transactions (connection checkouts,
BEGINs, COMMITs, savepoints) it took; `--profile` adds cProfile's top functions.
The first invitation warms up and is not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import io
import pstats
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP
from sqlalchemy import event

from bench.mail_itip import DOMAIN, Sink, _invitation, _no_provider, _seed
from bench.scratch import mail_settings, scratch_database
from spacecal.config import Settings
from spacecal.db.engine import open_database
from spacecal.mail import addresses
from spacecal.mail.jobs import process
from spacecal.mail.store import store
from spacecal.runner import TASK_MODULES  # noqa: F401  (registers the tasks)
from spacecal.sync.runtime import SyncRuntime

_EVENTS = ("begin", "commit", "rollback", "savepoint", "release_savepoint")


def _count(engine: Any, counts: collections.Counter[str]) -> None:
    """Count statements and transaction events on `engine` into `counts`."""

    def statement(*_: object) -> None:
        counts["statements"] += 1

    event.listen(engine, "after_cursor_execute", statement)
    for name in _EVENTS:
        event.listen(engine, name, lambda *_, name=name: counts.update([name]))
    event.listen(engine.pool, "checkout", lambda *_: counts.update(["checkouts"]))


async def _run(settings: Settings, messages: int, profile: bool) -> None:
    to = await _seed(settings)
    loop = asyncio.get_running_loop()
    relay = await loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    settings = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    db = await open_database(settings)
    try:
        rt = SyncRuntime(settings=settings, db=db, provider_for=_no_provider)  # type: ignore[arg-type]
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        async with db.engine.connect() as conn:
            recipient = await addresses.resolve(conn, to, DOMAIN)
        assert recipient is not None
        ids: list[int] = []
        for n in range(messages + 1):
            raw = _invitation(to, n, start)
            ids += await store(
                db.engine, mail_from="member@bench.test", recipients=[recipient], raw=raw,
                peer="127.0.0.1",
            )  # fmt: skip
        assert await process(rt, ids[0]) == "booked"  # warm-up: imports, connections
        counts: collections.Counter[str] = collections.Counter()
        _count(db.engine.sync_engine, counts)
        profiler = cProfile.Profile()
        wall = cpu = 0.0
        for message_id in ids[1:]:
            began, began_cpu = time.perf_counter(), time.process_time()
            if profile:
                profiler.enable()
            outcome = await process(rt, message_id)
            if profile:
                profiler.disable()
            wall += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
            assert outcome == "booked", outcome
        print(f"{messages} invitations processed one after another (mail.jobs.process)")
        per_wall, per_cpu = wall / messages * 1000, cpu / messages * 1000
        print(f"  per invitation: wall {per_wall:.1f} ms, CPU {per_cpu:.1f} ms")
        each = {k: round(v / messages, 1) for k, v in sorted(counts.items())}
        print(f"  per invitation: {each}")
        if profile:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
            print(out.getvalue())
    finally:
        relay.close()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=80)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args()
    with scratch_database("bench_itip") as url, tempfile.TemporaryDirectory() as tmp:
        settings = mail_settings(url, Path(tmp), DOMAIN)
        asyncio.run(_run(settings, args.messages, args.profile))


if __name__ == "__main__":
    main()
