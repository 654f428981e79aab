"""Stalled-job recovery on its own (the crash tests show it running in real workers):
a job of a worker that stopped beating is failed and its calendar queued again; a job
of the worker doing the recovery is left alone, however old its heartbeat looks
(right after a database outage every worker's heartbeat is stale); the schedules are
built from the settings."""

from __future__ import annotations

from sqlalchemy import text
from tests.support.database import reset_jobs

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.jobs import every, names
from spacecal.jobs.app import make_app
from spacecal.jobs.periodic import recover_stalled
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.runner import TASK_MODULES  # noqa: F401  (imports the task modules)
from spacecal.sync.runtime import SyncRuntime


def _no_provider(name: str) -> object:
    raise AssertionError("recovery talks to no provider")


async def _clean(database: Database) -> None:
    await reset_jobs(database.engine)


async def _running_job(database: Database, connection_id: int, heartbeat_age: int) -> int:
    """A reconcile 'doing' on a worker whose last heartbeat is `heartbeat_age` s old."""
    async with database.engine.begin() as conn:
        worker = await conn.scalar(
            text(
                "INSERT INTO procrastinate_workers (last_heartbeat)"
                " VALUES (now() - make_interval(secs => :age)) RETURNING id"
            ),
            {"age": heartbeat_age},
        )
        await defer_reconcile(conn, connection_id, None)
        await conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker"
                " WHERE queueing_lock = :lock AND status = 'todo'"
            ),
            {"worker": worker, "lock": f"reconcile:{connection_id}"},
        )
    return int(worker)


async def test_a_dead_workers_job_is_failed_and_queued_again_but_not_the_recoverers(
    settings: Settings, database: Database
) -> None:
    await _clean(database)
    shrunk = settings.model_copy(update={"stalled_job_seconds": 30.0})
    rt = SyncRuntime(settings=shrunk, db=database, provider_for=_no_provider)  # type: ignore[arg-type]
    await _running_job(database, 901, heartbeat_age=120)  # a worker that died
    alive = await _running_job(database, 902, heartbeat_age=120)  # stale, but it is us
    await _running_job(database, 903, heartbeat_age=1)  # a live worker, busy

    app = make_app(database.url, periodic=False)
    async with app.open_async():
        recovered = await recover_stalled(rt, app, alive_worker=alive)

    assert recovered == 1
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT args->>'connection_id', status::text FROM procrastinate_jobs"
                    " WHERE task_name = :task ORDER BY id"
                ),
                {"task": names.RECONCILE},
            )
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        ("901", "failed"),
        ("902", "doing"),
        ("903", "doing"),
        ("901", "todo"),  # queued again, to run on a live worker
    ]
    await _clean(database)


def test_schedules_follow_the_settings() -> None:
    assert every(2) == "* * * * * */2"
    assert every(60) == "*/1 * * * *"
    assert every(300) == "*/5 * * * *"
    assert every(7200) == "0 * * * *"
    defaults = Settings()
    assert (defaults.sweep_every_seconds, defaults.recover_every_seconds) == (60, 60)
    assert defaults.worker_heartbeat_seconds * 10 <= defaults.stalled_job_seconds
