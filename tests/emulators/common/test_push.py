"""Push delivery: retries, backoff bound, faults and drain, over real HTTP semantics."""

from __future__ import annotations

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spacecal.emulators.common import EmulatorCore, FaultKind


class Receiver:
    """A webhook endpoint that answers from a script, then 200."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.received: list[dict[str, str]] = []

    async def hook(self, request: Request) -> Response:
        self.received.append(dict(request.headers))
        status = self.script.pop(0) if self.script else 200
        return Response(status_code=status)

    def client(self) -> httpx2.AsyncClient:
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))


async def test_retries_5xx_then_delivers() -> None:
    rx = Receiver([503, 500])
    core = EmulatorCore(seed=1, push_client=rx.client(), push_retry_base=0.001)
    core.push.enqueue("http://spacecal.test/hook", {"X-N": "1"}, account="a@x")
    await core.drain()
    outcomes = [(d.attempt, d.outcome, d.status) for d in core.deliveries.list()]
    assert outcomes == [(1, "retrying", 503), (2, "retrying", 500), (3, "delivered", 200)]
    assert len(rx.received) == 3


async def test_gives_up_after_max_attempts_and_does_not_retry_4xx() -> None:
    rx = Receiver([500, 500, 500, 404])
    core = EmulatorCore(push_client=rx.client(), push_retry_base=0.001, push_max_attempts=3)
    core.push.enqueue("http://spacecal.test/hook", {})
    await core.drain()
    core.push.enqueue("http://spacecal.test/hook", {})
    await core.drain()
    first = [d.outcome for d in core.deliveries.list() if d.notification_id == 1]
    second = [d.outcome for d in core.deliveries.list() if d.notification_id == 2]
    assert first == ["retrying", "retrying", "failed"]
    assert second == ["failed"]


async def test_connection_error_is_retried() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(refuse))
    core = EmulatorCore(push_client=client, push_retry_base=0.001, push_max_attempts=2)
    core.push.enqueue("http://down.test/hook", {})
    await core.drain()
    records = core.deliveries.list()
    assert [r.outcome for r in records] == ["retrying", "failed"]
    assert records[0].status is None and "ConnectError" in (records[0].error or "")


async def test_drop_duplicate_delay_faults() -> None:
    rx = Receiver()
    core = EmulatorCore(seed=3, push_client=rx.client())
    core.faults.add(FaultKind.DROP_NOTIFICATION, times=1)
    core.faults.add(FaultKind.DELAY_NOTIFICATION, times=1, seconds=0.05)
    core.push.enqueue("http://spacecal.test/hook", {"X-N": "1"})  # dropped
    core.push.enqueue("http://spacecal.test/hook", {"X-N": "2"})  # delayed
    core.faults.add(FaultKind.DUPLICATE_NOTIFICATION, times=1)
    core.push.enqueue("http://spacecal.test/hook", {"X-N": "3"})  # sent twice
    await core.drain()
    assert [h["x-n"] for h in rx.received] == ["3", "3", "2"]
    dropped = [d for d in core.deliveries.list() if d.outcome == "dropped"]
    assert len(dropped) == 1 and dropped[0].headers == {"X-N": "1"}
    assert [d.duplicate for d in core.deliveries.list() if d.headers["X-N"] == "3"] == [
        False,
        True,
    ]


async def test_drain_with_nothing_pending_returns() -> None:
    core = EmulatorCore()
    await core.drain()
    assert core.deliveries.list() == []
