"""Push delivery: an async queue that POSTs notifications to registered addresses.

One worker task per emulator delivers notifications one at a time, earliest due
first (ties in enqueue order), which keeps runs reproducible. On a retryable answer
(by default 500/502/503/504, as Google documents) or a connection error the
notification is put back with exponential backoff, `retry_base * 2**(attempt-1)`
capped at `retry_cap`, for at most `max_attempts` attempts; any other non-success
answer is a final failure. Backoff and delay faults run on real (monotonic) time, not
on the emulator clock, so a frozen emulator clock cannot stall delivery; defaults are
small so tests stay fast (server mode uses larger ones).

Faults are applied at enqueue time: drop (recorded as "dropped", never sent),
duplicate (sent twice, identical headers), delay (due `seconds` later, so later
notifications overtake it).

`drain()` returns once nothing is queued, delayed, retrying or in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx2

from spacecal.emulators.common.clock import EmulatorClock
from spacecal.emulators.common.faults import FaultKind, FaultPlan
from spacecal.emulators.common.logs import DeliveryLog, DeliveryRecord

DEFAULT_SUCCESS = frozenset({200, 201, 202, 204, 102})
DEFAULT_RETRYABLE = frozenset({500, 502, 503, 504})


@dataclass
class Notification:
    id: int
    address: str
    headers: dict[str, str]
    body: bytes
    account: str | None
    channel: str | None
    duplicate: bool = False
    delayed_seconds: float = 0.0
    attempt: int = 0
    params: dict[str, str] = field(default_factory=dict)


class PushQueue:
    """Delivers notifications with retries; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        clock: EmulatorClock,
        faults: FaultPlan,
        log: DeliveryLog,
        client: httpx2.AsyncClient | None = None,
        retry_base: float = 0.02,
        retry_cap: float = 1.0,
        max_attempts: int = 5,
        timeout: float = 10.0,
        success_statuses: frozenset[int] = DEFAULT_SUCCESS,
        retryable_statuses: frozenset[int] = DEFAULT_RETRYABLE,
    ) -> None:
        self.clock = clock
        self.faults = faults
        self.log = log
        self._client = client
        self._own_client = client is None
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.success_statuses = success_statuses
        self.retryable_statuses = retryable_statuses
        self._ids = itertools.count(1)
        self._order = itertools.count()
        # (due in loop time or 0.0 for "now", enqueue order, notification)
        self._heap: list[tuple[float, int, Notification]] = []
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None

    @property
    def client(self) -> httpx2.AsyncClient:
        """The HTTP client used for delivery (created on first use in server mode)."""
        if self._client is None:
            self._client = httpx2.AsyncClient(timeout=self.timeout)
        return self._client

    def set_client(self, client: httpx2.AsyncClient) -> None:
        """Swap the delivery client (e.g. a test wiring spacecal's ASGI app late)."""
        self._client = client
        self._own_client = False

    def enqueue(
        self,
        address: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        account: str | None = None,
        channel: str | None = None,
    ) -> int:
        """Queue one notification (after drop/duplicate/delay faults); returns its id.

        Safe to call without a running event loop: delivery then starts at the next
        `drain()` (or the next enqueue made inside a loop).
        """
        note = Notification(
            id=next(self._ids),
            address=address,
            headers=dict(headers),
            body=body,
            account=account,
            channel=channel,
        )
        where = {"method": "POST", "path": address, "account": account}
        if self.faults.draw(FaultKind.DROP_NOTIFICATION, **where) is not None:
            self._record(note, outcome="dropped")
            return note.id
        delay = 0.0
        rule = self.faults.draw(FaultKind.DELAY_NOTIFICATION, **where)
        if rule is not None:
            delay = float(rule.params.get("seconds", 0.2))
            note.delayed_seconds = delay
        self._push(note, delay)
        if self.faults.draw(FaultKind.DUPLICATE_NOTIFICATION, **where) is not None:
            twin = Notification(
                id=note.id,
                address=address,
                headers=dict(headers),
                body=body,
                account=account,
                channel=channel,
                duplicate=True,
                delayed_seconds=delay,
            )
            self._push(twin, delay)
        return note.id

    async def send_now(
        self,
        address: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        account: str | None = None,
        channel: str | None = None,
    ) -> DeliveryRecord:
        """POST once, right now, no faults and no retries (e.g. a validation handshake)."""
        note = Notification(
            id=next(self._ids),
            address=address,
            headers=dict(headers),
            body=body,
            account=account,
            channel=channel,
            attempt=1,
        )
        status, latency, error = await self._post(note)
        ok = status is not None and status in self.success_statuses
        return self._record(
            note,
            outcome="delivered" if ok else "failed",
            status=status,
            latency_ms=latency,
            error=error,
        )

    async def drain(self) -> None:
        """Wait until every queued, delayed and retrying notification is finished."""
        if self._pending == 0:
            return
        self._ensure_worker()
        assert self._idle is not None
        while self._pending > 0:
            if self._idle.is_set():
                # A push handed over from another thread is still on its way to the
                # loop; yield instead of spinning on an already-set event.
                await asyncio.sleep(0.005)
                self._ensure_worker()
            else:
                await self._idle.wait()

    async def aclose(self) -> None:
        """Stop the worker (pending notifications are abandoned) and close our client."""
        worker = self._worker
        self._worker = None
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await worker
        self._heap.clear()
        self._pending = 0
        if self._idle is not None:
            self._idle.set()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- internals ---------------------------------------------------------------

    def _push(self, note: Notification, delay: float) -> None:
        due = 0.0
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        owner = self._loop
        if loop is None and owner is not None and owner.is_running():
            # Called from another thread (a sync endpoint runs in the threadpool): the
            # heap and the worker belong to the loop, so hand the push over to it.
            owner.call_soon_threadsafe(self._push, note, delay)
            return
        if delay > 0 and loop is not None:
            # Outside an event loop there is no clock to count from: no delay applies.
            due = loop.time() + delay
        self._pending += 1
        heapq.heappush(self._heap, (due, next(self._order), note))
        if loop is not None:
            self._ensure_worker()
            assert self._wakeup is not None and self._idle is not None
            self._idle.clear()
            self._wakeup.set()

    def _ensure_worker(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._idle = asyncio.Event()
            if self._pending == 0:
                self._idle.set()
            self._worker = loop.create_task(self._run(), name="emulator-push")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wakeup is not None and self._idle is not None
        while True:
            if not self._heap:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            due, _, note = self._heap[0]
            wait = due - loop.time()
            if wait > 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                continue
            heapq.heappop(self._heap)
            await self._attempt(note, loop)

    async def _attempt(self, note: Notification, loop: asyncio.AbstractEventLoop) -> None:
        note.attempt += 1
        status, latency, error = await self._post(note)
        if status is not None and status in self.success_statuses:
            self._record(note, outcome="delivered", status=status, latency_ms=latency)
            self._finish()
            return
        retryable = status is None or status in self.retryable_statuses
        if retryable and note.attempt < self.max_attempts:
            self._record(note, outcome="retrying", status=status, latency_ms=latency, error=error)
            backoff = min(self.retry_cap, self.retry_base * 2 ** (note.attempt - 1))
            heapq.heappush(self._heap, (loop.time() + backoff, next(self._order), note))
            return
        self._record(note, outcome="failed", status=status, latency_ms=latency, error=error)
        self._finish()

    async def _post(self, note: Notification) -> tuple[int | None, float, str | None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            response = await self.client.post(
                note.address, headers=note.headers, content=note.body, timeout=self.timeout
            )
        except Exception as exc:  # any failure to get an answer counts as a connection error
            return None, (loop.time() - started) * 1000, f"{type(exc).__name__}: {exc}"
        return response.status_code, (loop.time() - started) * 1000, None

    def _finish(self) -> None:
        self._pending -= 1
        if self._pending == 0 and self._idle is not None:
            self._idle.set()

    def _record(self, note: Notification, *, outcome: str, **fields: object) -> DeliveryRecord:
        return self.log.record(
            notification_id=note.id,
            time=self.clock.now(),
            address=note.address,
            headers=dict(note.headers),
            body=note.body.decode("utf-8", "replace"),
            attempt=note.attempt,
            outcome=outcome,
            account=note.account,
            channel=note.channel,
            duplicate=note.duplicate,
            delayed_seconds=note.delayed_seconds,
            **fields,
        )
