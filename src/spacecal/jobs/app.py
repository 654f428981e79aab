"""The procrastinate app, built from the tasks registered in jobs/registry.py.

Each registered function runs under its stored name (jobs/names.py) on its queue,
with the worker's runtime from the job's context. Job rules (DESIGN, Jobs): no
procrastinate `retry` anywhere (backoff is a new deferral with a delay, or the
connection's `retry_at`); locks and queueing locks are chosen where a job is
deferred (jobs/queue.py's callers). The app refuses to build with a stored task
name unregistered: a worker without a task's module imported would fail its jobs.
"""

from __future__ import annotations

import logging
from typing import Any

import procrastinate
from procrastinate import JobContext

from spacecal.config import Settings
from spacecal.db.url import to_libpq
from spacecal.jobs import names
from spacecal.jobs.batch import RunningJob, running
from spacecal.jobs.periodic import every, recover_stalled
from spacecal.jobs.registry import Runtime, Task, registered

log = logging.getLogger("spacecal.jobs")


def runtime_of(context: JobContext) -> Any:
    runtime = (context.additional_context or {}).get("runtime")
    assert runtime is not None, "the worker was started without a runtime"
    return runtime


def _register(app: procrastinate.App, spec: Task, settings: Settings, periodic: bool) -> None:
    if spec.schedule is None:

        async def run(context: JobContext, /, **args: Any) -> None:
            job = context.job
            current = RunningJob(job.id, job.worker_id) if job.id is not None else None
            if current is None:
                await spec.func(runtime_of(context), **args)
                return
            with running(current):  # jobs/batch.py: what claims more jobs needs
                await spec.func(runtime_of(context), **args)

        app.task(name=spec.name, queue=spec.queue, pass_context=True)(run)
        return

    async def tick(context: JobContext, timestamp: int) -> None:
        await spec.func(runtime_of(context))  # the `timestamp` is procrastinate's

    job = app.task(name=spec.name, queue=spec.queue, pass_context=True)(tick)
    if periodic:
        assert spec.periodic_id is not None
        app.periodic(cron=spec.schedule(settings), periodic_id=spec.periodic_id)(job)


def make_app(
    url: str, *, pool_size: int = 4, periodic: bool = True, settings: Settings | None = None
) -> procrastinate.App:
    """The procrastinate app on `url` (a libpq URL), with every registered task;
    `periodic` False leaves out the schedules (tests drive the sweep themselves).
    Schedules come from `settings` (defaults otherwise)."""
    settings = settings or Settings()
    tasks = registered()
    missing = [name for name in names.TASKS if name not in tasks and name != names.RECOVER_STALLED]
    if missing:
        raise RuntimeError(
            f"job tasks not registered: {', '.join(missing)}; import the modules that "
            "register them (spacecal.runner.TASK_MODULES) before building the app"
        )
    connector = procrastinate.PsycopgConnector(
        conninfo=to_libpq(url), min_size=1, max_size=pool_size
    )
    app = procrastinate.App(connector=connector)
    for spec in tasks.values():
        _register(app, spec, settings, periodic)

    async def recover_task(context: JobContext, timestamp: int) -> None:
        rt: Runtime = runtime_of(context)
        recovered = await recover_stalled(rt, app, alive_worker=context.job.worker_id)
        if recovered:
            log.warning("recovered %d stalled job(s)", recovered)

    recover_job = app.task(
        name=names.RECOVER_STALLED, queue=names.QUEUE_OF[names.RECOVER_STALLED], pass_context=True
    )(recover_task)
    if periodic:
        app.periodic(cron=every(settings.recover_every_seconds), periodic_id="recover")(recover_job)
    return app
