"""The delivery task on the worker's procrastinate app (registered by spacecal.jobs).

Deliveries share one HTTP client per event loop: building a client loads the TLS
trust store (~60-100 ms here), several times the cost of a delivery itself, and a
receiver that takes many deliveries keeps its connection. Timeouts are per request
(delivery.py); redirects are never followed by the client (send.py).
"""

from __future__ import annotations

import asyncio
from typing import Any
from weakref import WeakKeyDictionary

import httpx2
import procrastinate
from procrastinate import JobContext

from spacecal.outbound.actions import DELIVER_TASK, QUEUE
from spacecal.outbound.delivery import deliver
from spacecal.sync.runtime import SyncRuntime

_clients: WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = WeakKeyDictionary()


def shared_client() -> httpx2.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx2.AsyncClient(follow_redirects=False)
        _clients[loop] = client
    return client


async def deliver_task(context: JobContext, /, **args: Any) -> None:
    runtime = (context.additional_context or {}).get("runtime")
    assert isinstance(runtime, SyncRuntime), "the worker was started without a runtime"
    await deliver(runtime.db, runtime.settings, shared_client(), **args)


def register(app: procrastinate.App) -> None:
    app.task(name=DELIVER_TASK, queue=QUEUE, pass_context=True)(deliver_task)
