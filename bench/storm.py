"""A notification storm against real spacecal processes (issue 10 part 3, issue 11 part 4).

    uv run python bench/storm.py [--seats 1000] [--notifications 50000]
        [--http-connections 64] [--apis 2] [--workers 2] [--concurrency 4] [--edits 2]
        [--provider-limits]

Starts a deployment on loopback (tests/support/procs.py): both emulators, `--apis`
`spacecal serve --no-worker` processes and `--workers` `spacecal worker` processes
against a fresh database (on DATABASE_URL's server, else an embedded one in a temp
directory). Seeds members until there are `--seats` connections (each member: Google
and Microsoft, two rooms), through the portal. Then, while members keep editing
their calendars (`--edits` new events per seat, made during the storm), a load
generator in its own process (`bench/storm.py fire`, below) sends `--notifications`
valid notifications, Google's headers and Graph's JSON, spread over every channel and
subscription and over every API process, on `--http-connections` keep-alive
connections, while it also reads the records API. RSS of every spacecal process is
sampled each second. Afterwards it waits until every calendar has converged
(tests/support/loopback.py: each event one booking or marked refused, each booking
one event per calendar, no overlap, no duplicate) and prints the figures.

With `--provider-limits` the emulators enforce the providers' per-account limits from
the start (issue 18 item 12): Graph's 4 concurrent requests per mailbox (429 with
Retry-After) and Google's 600 requests per minute per user (403
userRateLimitExceeded); the figures then say how often each answered so.

The `fire` subcommand is the load generator alone: it reads a JSON plan (targets,
API URLs, counts) and prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- the load generator (its own process) ----------------------------------------------


def _google_request(target: dict[str, Any], number: int) -> bytes:
    return (
        "POST /webhooks/google HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
        f"X-Goog-Channel-ID: {target['channel']}\r\n"
        f"X-Goog-Channel-Token: {target['secret']}\r\n"
        f"X-Goog-Resource-ID: {target['resource_id']}\r\n"
        "X-Goog-Resource-State: exists\r\n"
        f"X-Goog-Message-Number: {number}\r\n\r\n"
    ).encode()


def _graph_request(target: dict[str, Any], number: int) -> bytes:
    body = json.dumps(
        {
            "value": [
                {
                    "subscriptionId": target["channel"],
                    "changeType": "updated",
                    "resource": target["resource_id"],
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Event",
                        "id": f"storm-{number}",
                    },
                    "clientState": target["secret"],
                    "tenantId": "",
                }
            ]
        }
    ).encode()
    head = (
        "POST /webhooks/microsoft HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    return int(head[9:12])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def fire(plan: dict[str, Any]) -> dict[str, Any]:
    """Send plan['notifications'] notifications over plan['http_connections'] keep-alive
    connections, spread over plan['apis'], and read the records API meanwhile."""
    targets: list[dict[str, Any]] = plan["targets"]
    apis = [urlsplit(u) for u in plan["apis"]]
    rng = random.Random(plan.get("seed", 0))
    # Every target gets its share, in a seeded random order.
    order = [i % len(targets) for i in range(plan["notifications"])]
    rng.shuffle(order)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    last_ok: dict[int, float] = {}
    errors: list[str] = []
    cursor = 0
    done = asyncio.Event()

    async def connection(k: int) -> None:
        nonlocal cursor
        api = apis[k % len(apis)]
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while cursor < len(order):
            i = cursor
            cursor += 1
            target = targets[order[i]]
            build = _google_request if target["provider"] == "google" else _graph_request
            request = build(target, i + 2)
            for _attempt in range(3):
                try:
                    if conn is None:
                        conn = await asyncio.open_connection(api.hostname, api.port)
                    sent = time.time()
                    began = time.perf_counter()
                    status = await _exchange(*conn, request)
                    latencies.append((time.perf_counter() - began) * 1000)
                    statuses[status] += 1
                    if 200 <= status < 300:
                        last_ok[target["seat"]] = max(last_ok.get(target["seat"], 0.0), sent)
                    break
                except (OSError, asyncio.IncompleteReadError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    if conn is not None:
                        conn[1].close()
                    conn = None
        if conn is not None:
            conn[1].close()

    read_statuses: Counter[int] = Counter()
    read_latencies: list[float] = []

    async def reader() -> None:
        api = apis[-1]
        conn = await asyncio.open_connection(api.hostname, api.port)
        path = plan.get("read_path", "/api/spaces/coworkergooglecalendars?size=25")
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {plan['token']}\r\n\r\n"
        ).encode()
        interval = 1.0 / max(plan.get("reads_per_second", 20.0), 0.1)
        while not done.is_set():
            began = time.perf_counter()
            try:
                status = await _exchange(*conn, request)
            except (OSError, asyncio.IncompleteReadError):
                conn = await asyncio.open_connection(api.hostname, api.port)
                status = 0
            read_latencies.append((time.perf_counter() - began) * 1000)
            read_statuses[status] += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
        conn[1].close()

    reading = asyncio.create_task(reader())
    began = time.perf_counter()
    await asyncio.gather(*(connection(k) for k in range(plan["http_connections"])))
    seconds = time.perf_counter() - began
    done.set()
    await reading
    return {
        "sent": len(order),
        "seconds": seconds,
        "rate": len(order) / seconds,
        "statuses": {str(k): v for k, v in statuses.items()},
        "non_2xx": sum(v for k, v in statuses.items() if not 200 <= k < 300),
        "transport_errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": max(latencies, default=0.0),
        "last_ok": {str(k): v for k, v in last_ok.items()},
        "reads": sum(read_statuses.values()),
        "read_statuses": {str(k): v for k, v in read_statuses.items()},
        "read_p50_ms": _pct(read_latencies, 0.50),
        "read_p99_ms": _pct(read_latencies, 0.99),
    }


# -- the benchmark ----------------------------------------------------------------------


async def _edits(calendars: Any, seats: list[Any], per_seat: int, seed: int) -> int:
    from tests.support.loopback import random_slot

    rng = random.Random(seed)
    made = 0
    for round_ in range(per_seat):
        for seat in seats:
            start, end = random_slot(rng, days=50)
            await calendars.create(seat, f"Storm edit {round_}", start, end)
            made += 1
    return made


def bench(args: argparse.Namespace) -> None:
    import psycopg
    from tests.support import loopback
    from tests.support.procs import EmbeddedServer, fleet
    from tests.support.storm import mb, missed_syncs, run_storm, storm_targets, sync_counts

    embedded = None
    server = os.environ.get("DATABASE_URL")
    if not server:
        embedded = EmbeddedServer()
        server = embedded.url
    name = f"spacecal_storm_{uuid.uuid4().hex[:8]}"
    from spacecal.db.url import to_libpq

    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(to_libpq(server))
    db_url = parts._replace(path="/" + name).geturl()
    rooms = 2
    members = max(1, args.seats // (2 * rooms))
    print(
        f"bench/storm.py on {os.cpu_count()} cores, database: "
        f"{'DATABASE_URL' if embedded is None else 'embedded'}; {args.apis} API + "
        f"{args.workers} worker processes (concurrency {args.concurrency})",
        flush=True,
    )
    knobs = {"SPACECAL_DB_POOL_SIZE": "10"}
    try:
        with fleet(db_url, knobs=knobs, seed=args.seed) as f:
            if args.provider_limits:
                _provider_limits(f)
            for _ in range(args.apis):
                f.start_api()
            for _ in range(args.workers):
                f.start_worker(args.concurrency)
            began = time.monotonic()
            space = asyncio.run(loopback.seed(f, members=members, rooms=rooms))
            print(
                f"seeded {len(space.seats):,} connections ({members} members × 2 providers × "
                f"{rooms} rooms) through the portal in {time.monotonic() - began:.0f} s",
                flush=True,
            )
            asyncio.run(_settle(f, space, db_url, 600))
            targets = asyncio.run(storm_targets(f, space.seats))
            print(f"{len(targets):,} live channels/subscriptions; storm …", flush=True)
            calendars_holder: dict[str, Any] = {}

            def edit() -> None:
                async def go() -> None:
                    calendars = loopback.Calendars(f)
                    try:
                        calendars_holder["edits"] = await _edits(
                            calendars, space.seats, args.edits, args.seed
                        )
                    finally:
                        await calendars.aclose()

                asyncio.run(go())

            editor = threading.Thread(target=edit)
            editor.start()
            result = run_storm(
                f,
                targets,
                space.token,
                notifications=args.notifications,
                http_connections=args.http_connections,
                seed=args.seed,
            )
            editor.join()
            storm_end = time.monotonic()
            r = result.figures
            print(
                f"  {r['sent']:,} notifications in {r['seconds']:.1f} s = {r['rate']:.0f}/s over "
                f"{args.http_connections} HTTP connections; statuses {r['statuses']}; non-2xx "
                f"{r['non_2xx']}, transport errors {r['transport_errors']}",
                flush=True,
            )
            print(
                f"  webhook latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                f"max {r['max_ms']:.0f} ms; reads meanwhile: {r['reads']} "
                f"({r['read_statuses']}), p50 {r['read_p50_ms']:.1f} ms, "
                f"p99 {r['read_p99_ms']:.1f} ms; member edits during the storm: "
                f"{calendars_holder.get('edits', 0):,}",
                flush=True,
            )
            verdict, _took = asyncio.run(_settle(f, space, db_url, args.converge_timeout))
            print(
                f"  converged {time.monotonic() - storm_end:.0f} s after the storm: "
                f"{verdict.ok} ({verdict.events:,} events, {verdict.bookings:,} live bookings, "
                f"{verdict.refused:,} refused marks)",
                flush=True,
            )
            for problem in verdict.problems[:10]:
                print("   ", problem)
            lost = missed_syncs(db_url, result.last_ok)
            overlaps = loopback.overlapping_syncs(db_url)
            runs = sync_counts(db_url)
            print(
                f"  connections without a sync after their last notification: {len(lost)}; "
                f"overlapping syncs of one connection: {len(overlaps)}; stuck jobs: "
                f"{len(loopback.stuck_jobs(db_url))}",
                flush=True,
            )
            print(
                f"  syncs per connection: {runs['total'] / max(1, len(space.seats)):.1f} on "
                f"average, at most {runs['max']} (notifications per connection: "
                f"{args.notifications / max(1, len(targets)):.0f})",
                flush=True,
            )
            if args.provider_limits:
                print(f"  provider limits met: {_limit_answers(f)}", flush=True)
            for name_, values in result.rss.items():
                print(f"  RSS {name_:<8} {mb(values)}", flush=True)
    finally:
        with psycopg.connect(to_libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if embedded is not None:
            embedded.close()


def _provider_limits(f: Any) -> None:
    import httpx

    google, microsoft = f.emulators["google"].base, f.emulators["microsoft"].base
    with httpx.Client(timeout=10) as http:
        http.post(google + "/_control/limits", json={"requests_per_minute": 600}).raise_for_status()
        http.post(
            microsoft + "/_control/microsoft/throttle", json={"limit": 4, "retry_after": 1}
        ).raise_for_status()


def _limit_answers(f: Any) -> dict[str, Any]:
    """How many calls each emulator logged, and how many it refused for the limits."""
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(timeout=60) as http:
        for provider, refused in (("google", 403), ("microsoft", 429)):
            calls = http.get(f.emulators[provider].base + "/_control/calls").json()
            out[provider] = {
                "calls": len(calls),
                f"answered_{refused}": sum(1 for c in calls if c.get("status") == refused),
            }
    return out


async def _settle(f: Any, space: Any, db_url: str, within: float) -> Any:
    from tests.support import loopback

    calendars = loopback.Calendars(f)
    try:
        verdict, took = await loopback.wait_converged(calendars, space, db_url, within)
    finally:
        await calendars.aclose()
    return verdict, took


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "fire":
        plan = json.loads(Path(sys.argv[2]).read_text())
        print(json.dumps(asyncio.run(fire(plan))))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seats", type=int, default=1000, help="connections (calendars)")
    parser.add_argument("--notifications", type=int, default=50_000)
    parser.add_argument("--http-connections", type=int, default=64)
    parser.add_argument("--apis", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--edits", type=int, default=1, help="member edits per seat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--converge-timeout", type=float, default=900.0)
    parser.add_argument(
        "--provider-limits",
        action="store_true",
        help="the emulators enforce Graph's mailbox concurrency and Google's per-user rate",
    )
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
