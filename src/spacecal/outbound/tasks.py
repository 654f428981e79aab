"""The delivery task, registered with jobs/ under its stored name (jobs/names.py
DELIVER); a stalled delivery (its worker died) is sent again.

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
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import jobs
from spacecal.jobs import names
from spacecal.outbound.delivery import defer_delivery, deliver
from spacecal.sync.runtime import SyncRuntime

_clients: WeakKeyDictionary[asyncio.AbstractEventLoop, httpx2.AsyncClient] = WeakKeyDictionary()


def shared_client() -> httpx2.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx2.AsyncClient(follow_redirects=False)
        _clients[loop] = client
    return client


async def _send_again(conn: AsyncConnection, args: dict[str, Any]) -> None:
    # Cut short, it may or may not have reached the receiver: send it again.
    await defer_delivery(conn, args)


@jobs.task(names.DELIVER, on_stalled=_send_again)
async def deliver_task(runtime: SyncRuntime, /, **args: Any) -> None:
    await deliver(runtime.db, runtime.settings, shared_client(), **args)
