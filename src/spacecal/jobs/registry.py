"""The thin registry through which the modules above jobs/ declare their tasks.

A task is registered beside the function it runs, in the module that owns it
(`@jobs.task(names.RECONCILE, on_stalled=...)` in sync/reconcile/task.py), so
jobs/ never imports sync/ or outbound/ (they are above it). `jobs.app.make_app`
builds the procrastinate app from what is registered here, under the exact stored
names of jobs/names.py: no prefix or namespace is ever added (procrastinate's
`add_tasks_from(..., namespace=...)` would rename them and strand queued rows).

A registered function is called as `func(runtime, **job_args)`: `runtime` is the
object the worker was started with (today sync's `SyncRuntime`); jobs/ only needs
its database and settings (`Runtime`). Periodic functions get no job arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.jobs import names


class Runtime(Protocol):
    """What jobs/ reads from the worker's context object."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...


TaskFunc = Callable[..., Awaitable[object]]
#: Re-queue a stalled job (a worker died under it) in `conn`'s transaction, from its
#: arguments. Without one, a stalled job is only marked failed.
OnStalled = Callable[[AsyncConnection, dict[str, Any]], Awaitable[object]]
#: A periodic task's cron schedule, from the settings.
Schedule = Callable[[Settings], str]

F = TypeVar("F", bound=TaskFunc)


@dataclass(frozen=True)
class Task:
    name: str
    queue: str
    func: TaskFunc
    on_stalled: OnStalled | None = None
    schedule: Schedule | None = None  # periodic when set
    periodic_id: str | None = None


_registered: dict[str, Task] = {}


def _add(spec: Task) -> None:
    if spec.name not in names.QUEUE_OF:
        raise ValueError(f"{spec.name!r} is not a stored task name (jobs/names.py)")
    known = _registered.get(spec.name)
    if known is not None and (known.func.__module__, known.func.__qualname__) != (
        spec.func.__module__,
        spec.func.__qualname__,
    ):
        raise ValueError(f"task {spec.name!r} is registered twice")
    _registered[spec.name] = spec


def task(name: str, *, on_stalled: OnStalled | None = None) -> Callable[[F], F]:
    """Register the decorated `async def f(runtime, **args)` as the task `name` (one
    of jobs/names.py, whose queue it runs on); returns `f` unchanged."""

    def register(func: F) -> F:
        _add(Task(name, names.QUEUE_OF.get(name, ""), func, on_stalled))
        return func

    return register


def periodic_task(name: str, *, periodic_id: str, schedule: Schedule) -> Callable[[F], F]:
    """Register the decorated `async def f(runtime)` as the periodic task `name`,
    deferred on `schedule(settings)` (a cron line; see `every`)."""

    def register(func: F) -> F:
        _add(
            Task(
                name, names.QUEUE_OF.get(name, ""), func, schedule=schedule, periodic_id=periodic_id
            )
        )
        return func

    return register


def every(seconds: int) -> str:
    """A cron schedule running every `seconds` (under a minute: procrastinate's
    six-field cron, seconds last; otherwise whole minutes, at most hourly)."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = seconds // 60
    return "0 * * * *" if minutes >= 60 else f"*/{minutes} * * * *"


def registered() -> dict[str, Task]:
    """The registered tasks by name (a copy)."""
    return dict(_registered)
