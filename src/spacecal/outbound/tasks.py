"""The delivery task, registered with jobs/ under its stored name (jobs/names.py
DELIVER); a stalled delivery (its worker died) is sent again.

Deliveries share one HTTP client per event loop: building a client loads the TLS
trust store (~60-100 ms here), several times the cost of a delivery itself, and a
receiver that takes many deliveries keeps its connection. Timeouts are per request
(delivery.py); redirects are never followed by the client (send.py), and every
connection is checked by the outbound guard (providers/guard.py).
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
from spacecal.providers.guard import guarded_client
from spacecal.sync.runtime import SyncRuntime

_clients: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, httpx2.AsyncClient]] = (
    WeakKeyDictionary()
)


def shared_client(*, allow_private: bool) -> httpx2.AsyncClient:
    """The loop's delivery client, behind the outbound guard (providers/guard.py)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(allow_private)
    if client is None or client.is_closed:
        client = per_loop[allow_private] = guarded_client(allow_private=allow_private)
    return client


async def _send_again(conn: AsyncConnection, args: dict[str, Any]) -> None:
    # Cut short, it may or may not have reached the receiver: send it again.
    await defer_delivery(conn, args)


@jobs.task(names.DELIVER, on_stalled=_send_again)
async def deliver_task(runtime: SyncRuntime, /, **args: Any) -> None:
    client = shared_client(allow_private=runtime.settings.allow_private_targets)
    await deliver(runtime.db, runtime.settings, client, **args)
