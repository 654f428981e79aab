"""The delivery task on the worker's procrastinate app (registered by spacecal.jobs).

Each delivery gets its own short-lived HTTP client: receivers are many and unrelated,
so there is no connection to reuse, and nothing is shared with the provider clients.
"""

from __future__ import annotations

from typing import Any

import httpx2
import procrastinate
from procrastinate import JobContext

from spacecal.outbound.actions import DELIVER_TASK, QUEUE
from spacecal.outbound.delivery import deliver
from spacecal.sync.runtime import SyncRuntime


async def deliver_task(context: JobContext, /, **args: Any) -> None:
    runtime = (context.additional_context or {}).get("runtime")
    assert isinstance(runtime, SyncRuntime), "the worker was started without a runtime"
    async with httpx2.AsyncClient() as client:
        await deliver(runtime.db, runtime.settings, client, **args)


def register(app: procrastinate.App) -> None:
    app.task(name=DELIVER_TASK, queue=QUEUE, pass_context=True)(deliver_task)
