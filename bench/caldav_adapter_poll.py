"""What the CalDAV adapter costs per poll of an unchanged calendar, against a bare loop.

    PYTHONPATH=. uv run python bench/caldav_adapter_poll.py [--calendars 1000] [--concurrency 8]
        [--rounds 3]

Starts Radicale (plain http, loopback, htpasswd/bcrypt: tests/support/caldav_servers.py),
connects one account, makes N calendars, pulls each once (the cursor), then:

- adapter: `CalDavProvider.pull(secret, calendar, cursor, window)` for every calendar,
  `concurrency` at a time (one sync-collection REPORT each, nothing changed);
- bare: the same REPORT body with httpx2 alone (no guard, no parsing beyond the status).

Prints polls/s and this process's CPU per poll for both, and the ratio (target
>= 0.5: the server should be the limit, not spacecal). The adapter alone: the
poller's schedule and the reconcile job around it are measured with the poller.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx2
from tests.support.caldav_servers import caldav_settings, start_radicale, stop

from spacecal.providers.base import SyncWindow
from spacecal.providers.caldav import CalDavProvider, caldav_http_client, connect_account
from spacecal.providers.caldav import xml as davxml

WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))


async def _timed(
    jobs: list[Callable[[], Awaitable[object]]], concurrency: int
) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds for running every job."""
    queue = list(jobs)

    async def worker() -> None:
        while queue:
            await queue.pop()()

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def run(calendars: int, concurrency: int, rounds: int) -> None:
    server = start_radicale()
    try:
        settings = caldav_settings(server)
        async with caldav_http_client(settings) as http:
            credentials, _ = await connect_account(
                http, server.url, server.username, server.password, settings=settings
            )
            secret = credentials.to_secret()
            provider = CalDavProvider(settings, http)
            made = [
                (await provider.create_calendar(secret, f"Room {i}", "Europe/Paris")).id
                for i in range(calendars)
            ]
            cursors = {c: (await provider.pull(secret, c, None, WINDOW)).cursor for c in made}

            async def adapter_poll(calendar: str) -> None:
                result = await provider.pull(secret, calendar, cursors[calendar], WINDOW)
                assert not result.events

            def adapter_jobs() -> list[Callable[[], Awaitable[object]]]:
                return [(lambda c=c: adapter_poll(c)) for c in made]

            auth = (server.username, server.password)
            async with httpx2.AsyncClient(timeout=30) as bare_http:

                async def bare_poll(calendar: str) -> None:
                    answer = await bare_http.request(
                        "REPORT",
                        calendar,
                        content=davxml.sync_collection(cursors[calendar]),
                        headers={"Content-Type": "application/xml; charset=utf-8"},
                        auth=auth,
                    )
                    assert answer.status_code == 207

                def bare_jobs() -> list[Callable[[], Awaitable[object]]]:
                    return [(lambda c=c: bare_poll(c)) for c in made]

                # Interleaved rounds, the best of each kept: neither gets the warm server.
                runs: dict[str, list[tuple[float, float]]] = {"bare": [], "adapter": []}
                for _ in range(rounds):
                    runs["bare"].append(await _timed(bare_jobs(), concurrency))
                    runs["adapter"].append(await _timed(adapter_jobs(), concurrency))
                bare, adapter = min(runs["bare"]), min(runs["adapter"])
    finally:
        stop(server)
    for name, (wall, cpu) in (("bare httpx2", bare), ("adapter", adapter)):
        print(
            f"{name:12} {calendars / wall:8.1f} polls/s  "
            f"{cpu / calendars * 1000:6.2f} ms CPU/poll (this process)"
        )
    print(f"ratio adapter/bare polls/s: {bare[0] / adapter[0]:.2f} (target >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calendars", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.calendars, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
