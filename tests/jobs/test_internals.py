"""The one private procrastinate attribute spacecal uses (jobs/internals.py) is still
there and still what wakes a worker's fetch loop. When a procrastinate release
changes it, this fails: rework `_fetch_again_when_done` (jobs/worker.py) before
upgrading, or workers fall back to polling for jobs queued behind a lock."""

from __future__ import annotations

import asyncio
import inspect

import procrastinate
from procrastinate import testing, worker

from spacecal.jobs.internals import _ATTRIBUTE, new_job_event


async def test_the_worker_still_has_its_wake_up_event() -> None:
    app = procrastinate.App(connector=testing.InMemoryConnector())
    w = worker.Worker(app=app)
    event = new_job_event(w)
    assert isinstance(event, asyncio.Event), (
        f"procrastinate {procrastinate.__version__}: Worker.{_ATTRIBUTE} is gone or "
        "no longer an asyncio.Event"
    )
    # Setting it is what ends the fetch loop's wait for the next poll.
    assert f"self.{_ATTRIBUTE}.wait()" in inspect.getsource(worker.Worker)
