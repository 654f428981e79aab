"""The one piece of procrastinate's private state spacecal relies on.

A job queued behind a running job's lock (the same provider account) is not woken
when that job ends: procrastinate's workers are notified of inserts only, so it
would wait for the next poll. spacecal sets the worker's own wake-up event when a
job's task is done (jobs/worker.py). That event is `Worker._new_job_event`, a
private attribute: it is read here and nowhere else, and
`tests/jobs/test_internals.py` fails loudly when a procrastinate release renames or
retypes it (until then this returns None and workers fall back to polling).
"""

from __future__ import annotations

import asyncio
from typing import Any

_ATTRIBUTE = "_new_job_event"


def new_job_event(worker: Any) -> asyncio.Event | None:
    """The event that makes `worker` fetch again at once, if procrastinate still has
    it where spacecal expects it."""
    event = getattr(worker, _ATTRIBUTE, None)
    return event if isinstance(event, asyncio.Event) else None
