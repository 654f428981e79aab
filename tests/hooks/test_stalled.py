"""A delivery whose worker died mid-way is sent again by stalled-job recovery
(at-least-once: receivers tell repeats apart by the record's Id and Version)."""

from __future__ import annotations

import json

from sqlalchemy import text

from hooks.conftest import outbound_jobs
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.jobs.app import make_app
from spacecal.jobs.periodic import recover_stalled
from spacecal.outbound.delivery import defer_delivery
from spacecal.providers.base import CalendarProvider
from spacecal.runner import TASK_MODULES  # noqa: F401  (imports the task modules)
from spacecal.sync.runtime import SyncRuntime


def _no_provider(name: str) -> CalendarProvider:
    raise AssertionError("recovery talks to no provider")


async def test_a_dead_workers_delivery_is_queued_again(
    clean: None, settings: Settings, database: Database
) -> None:
    args = {"webhook_id": 7, "action": "BookingUpdate", "body": '[{"Id":1}]', "attempt": 2}
    async with database.engine.begin() as conn:
        await conn.execute(text("DELETE FROM procrastinate_workers"))
        worker = await conn.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - interval '10 minutes') RETURNING id"
            )
        )
        await defer_delivery(conn, args)
        await conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker"),
            {"worker": worker},
        )
    rt = SyncRuntime(
        settings=settings.model_copy(update={"stalled_job_seconds": 30.0}),
        db=database,
        provider_for=_no_provider,
    )
    app = make_app(database.url, periodic=False)
    async with app.open_async():
        assert await recover_stalled(rt, app) == 1
    jobs = await outbound_jobs(database)
    assert [(j["status"], j["args"]) for j in jobs] == [("failed", args), ("todo", args)]
    assert json.loads(jobs[1]["args"]["body"]) == [{"Id": 1}]
