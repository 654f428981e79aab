"""Benchmarks of the sync engine (issue 9), each printed with its target.

    uv run python bench/sync.py [--parts intake,latency,initial,renewal,memory]
        [--connections 10000] [--duration 10] [--events 10000] [--refused-events 2000]
        [--renewals 10000] [--renewal-accounts 50] [--renewal-workers 1]
        [--idle-connections 100000] [--samples 40]

- intake: Google-style notifications (valid channel id + token, `exists`) against a
  fresh database holding N connections, each with a live channel; spacecal served by
  uvicorn in its own process, loaded by wrk (Lua script setting the headers) from a
  second process on loopback; beside bench/bare_app.py's `/notify` (202) under the
  same wrk settings, for the ratio. Then a fixed-rate run (~200/s, a small asyncio
  client in a third process, latency measured from each request's scheduled send
  time so a stall is not hidden) for p99. No worker runs: marks accumulate on the
  connections (intake commits a mark, the worker's dispatcher makes the jobs), which
  is the storm case.
- latency: notification-to-booking p50/p95 on the demo's stack (emulators on loopback,
  push over HTTP), see bench/sync_inproc.py.
- initial: one reconcile of a calendar holding N events; all bookable (no writes)
  and all refused (one mark written back per event), see bench/sync_inproc.py.
- renewal: N due subscriptions renewed by the keep-alive pass and jobs against the
  emulators (subscriptions/s, spacecal's queries per renewal), see bench/sync_renewal.py.
- memory: RSS of a `spacecal worker` process against N idle connection rows (all
  synced recently, channels far from expiry), sampled through a periodic sweep.

Benchmarks are not tests: bounded in count and time, loopback only. Uses
DATABASE_URL's server when set (a fresh database per part), else the embedded one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from bench.api import (  # noqa: E402
    fresh_database,
    server_url,
    start,
    uvicorn_cmd,
    wait_ready,
    wrk,
)
from bench.api import seed as seed_connections  # noqa: E402
from bench.rate_client import run_client  # noqa: E402

LUA = """
local n = {n}
local path = "{path}"
request = function()
  local i = math.random(1, n)
  return wrk.format("POST", path, {{
    ["X-Goog-Channel-ID"] = "chan-" .. i,
    ["X-Goog-Channel-Token"] = "tok-" .. i,
    ["X-Goog-Resource-State"] = "exists",
    ["X-Goog-Resource-ID"] = "res-" .. i,
    ["X-Goog-Message-Number"] = tostring(i),
    ["Content-Length"] = "0"
  }}, "")
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_channels(url: str) -> None:
    """One live Google channel per connection: channel `chan-<id>`, token `tok-<id>`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO subscription_generations (connection_id, provider, subscription_id,"
            " watch_resource_id, secret, expires_at, status, created_at)"
            " SELECT id, 'google', 'chan-' || id, 'res-' || id, 'tok-' || id,"
            " now() + interval '7 days', 'live', now() FROM connections"
        )
        conn.execute(
            "UPDATE connections SET last_sync_at = now(), last_notification_at = now(),"
            " subscription_expire_date = now() + interval '30 days'"
        )
        conn.execute("ANALYZE")


def base_env(db_url: str, tmp: Path) -> dict[str, str]:
    dead = "http://127.0.0.1:9"  # nothing listens: no provider is ever reached
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")},
        "DATABASE_URL": db_url,
        "SPACECAL_SECRET_KEYS": Fernet.generate_key().decode(),
        "SPACECAL_DATA_DIR": str(tmp / "data"),
        "SPACECAL_GOOGLE_API_BASE": dead,
        "SPACECAL_GOOGLE_TOKEN_URL": dead,
        "SPACECAL_MICROSOFT_GRAPH_BASE": dead,
        "SPACECAL_MICROSOFT_LOGIN_BASE": dead,
    }


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def intake(args: argparse.Namespace, server: str, tmp: Path) -> dict[str, Any]:
    db_url = fresh_database(server)
    seed_connections(db_url, args.connections)
    add_channels(db_url)
    env = base_env(db_url, tmp)
    api_port, bare_port = free_port(), free_port()
    procs = [
        start(uvicorn_cmd("spacecal.app:create_app()", api_port), env),
        start(uvicorn_cmd("bench.bare_app:app", bare_port), env),
    ]
    try:
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        wait_ready(api + "/healthz", procs[0])
        wait_ready(bare + "/record", procs[1])
        scripts = {}
        for name, path in (("api", "/webhooks/google"), ("bare", "/notify")):
            script = tmp / f"{name}.lua"
            script.write_text(LUA.format(n=args.connections, path=path))
            scripts[name] = script
        c = args.wrk_connections

        def load(url: str, script: Path, seconds: int) -> dict[str, float]:
            return wrk(url, seconds, c, {}, script)

        load(api, scripts["api"], 2)  # warm up (and fill the queue: the storm case)
        load(bare, scripts["bare"], 2)
        bare_run = load(bare, scripts["bare"], args.duration)
        api_run = load(api, scripts["api"], args.duration)
        fixed = run_client(
            "127.0.0.1", api_port, "/webhooks/google", args.connections, 200.0, args.duration
        )
        with psycopg.connect(db_url, autocommit=True) as conn:
            marks = conn.execute(
                "SELECT count(*), coalesce(sum(notifications_pending), 0) FROM connections"
                " WHERE sync_requested_at IS NOT NULL"
            ).fetchone()
        assert marks is not None
        return {"api": api_run, "bare": bare_run, "fixed": fixed, "marks": marks}
    finally:
        stop_all(procs)


def memory(args: argparse.Namespace, server: str, tmp: Path) -> dict[str, Any]:
    import psutil

    db_url = fresh_database(server)
    seed_connections(db_url, args.idle_connections)
    add_channels(db_url)
    env = base_env(db_url, tmp)
    proc = start([sys.executable, "-m", "spacecal.cli", "worker"], env)
    peak = 0
    samples: list[int] = []
    try:
        deadline = time.monotonic() + args.memory_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited with {proc.returncode}")
            rss = psutil.Process(proc.pid).memory_info().rss
            samples.append(rss)
            peak = max(peak, rss)
            time.sleep(1)
        with psycopg.connect(db_url, autocommit=True) as conn:
            swept = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'spacecal.sweep'"
            ).fetchone()
    finally:
        stop_all([proc])
    return {
        "connections": args.idle_connections,
        "peak_mb": peak / 2**20,
        "last_mb": samples[-1] / 2**20 if samples else 0.0,
        "sweeps": swept[0] if swept else 0,
        "seconds": args.memory_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="intake,latency,initial,renewal,memory")
    parser.add_argument("--connections", type=int, default=10_000, help="for intake")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--samples", type=int, default=40, help="latency samples")
    parser.add_argument("--events", type=int, default=10_000, help="initial sync, bookable")
    parser.add_argument(
        "--refused-events", type=int, default=2_000, help="initial sync, all refused"
    )
    parser.add_argument("--renewals", type=int, default=10_000, help="due subscriptions")
    parser.add_argument("--renewal-accounts", type=int, default=50, help="per provider")
    parser.add_argument(
        "--renewal-workers",
        type=int,
        default=1,
        help="worker processes for the renewal part (0: in the bench's process, beside "
        "the API and the emulators)",
    )
    parser.add_argument("--idle-connections", type=int, default=100_000)
    parser.add_argument("--memory-seconds", type=int, default=75, help="covers one sweep")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if "intake" in parts and shutil.which("wrk") is None:
        raise SystemExit("bench/sync.py needs wrk: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="spacecal-bench-"))
    tmp.chmod(0o755)
    db = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "embedded"
    print(f"bench/sync.py on {os.cpu_count()} cores, database: {db}", flush=True)
    try:
        server = server_url(tmp)
        if "intake" in parts:
            print(f"\n[intake] {args.connections:,} connections with live channels …", flush=True)
            r = intake(args, server, tmp)
            api, bare, fixed = r["api"], r["bare"], r["fixed"]
            print(f"  wrk -t1 -c{args.wrk_connections} -d{args.duration}s, Lua-set headers:")
            for name, run in (("bare FastAPI /notify (202)", bare), ("spacecal webhook", api)):
                print(
                    f"  {name:<28} {run['rps']:>8.0f} req/s  p50 {run['p50']:.2f} ms"
                    f"  p99 {run['p99']:.2f} ms  non-2xx {run['non2xx']:.0f}"
                )
            ratio = api["rps"] / bare["rps"]
            print(
                f"  intake {api['rps']:.0f}/s (target >= 1,000), ratio to bare {ratio:.2f}"
                f" (target >= 0.30); marks left for the dispatcher: {r['marks'][0]:,}"
                f" connections, {r['marks'][1]:,} notifications"
            )
            print(
                f"  fixed rate {fixed['rate']:.0f}/s for {fixed['seconds']:.0f} s "
                f"({fixed['sent']} sent, {fixed['errors']} errors): p50 {fixed['p50']:.2f} ms, "
                f"p99 {fixed['p99']:.2f} ms (target p99 <= 20 ms)",
                flush=True,
            )
        if "latency" in parts:
            from bench.sync_inproc import latency, summary

            print(f"\n[latency] {args.samples} member edits, alternating providers …", flush=True)
            lat = asyncio.run(latency(args.samples))
            both = lat["google"] + lat["microsoft"]
            for name, values in (*lat.items(), ("both", both)):
                print(f"  {name:<10} {summary(values)}")
            from bench.sync_inproc import pct

            print(f"  p95 {pct(both, 0.95):.0f} ms (target <= 300 ms)", flush=True)
        if "initial" in parts:
            from bench.sync_inproc import initial_sync

            print(
                f"\n[initial] one reconcile: {args.events:,} bookable events, "
                f"{args.refused_events:,} refused events …",
                flush=True,
            )
            res = asyncio.run(initial_sync(args.events, args.refused_events))
            for case, v in res.items():
                print(
                    f"  {case:<9} {v['events']:,} events in {v['seconds']:.1f} s = "
                    f"{v['rate']:.0f} events/s (booked {v['booked']:,}, marks written "
                    f"{v['marked']:,}, outcome {v['status']})"
                )
            print("  target: >= 2,000 events/s (pull and decide)", flush=True)
        if "renewal" in parts:
            from bench.sync_renewal import renewal

            print(
                f"\n[renewal] {args.renewals:,} due subscriptions (half Google, half Graph), "
                f"{args.renewal_accounts} accounts per provider, "
                + (
                    f"{args.renewal_workers} worker process(es) …"
                    if args.renewal_workers
                    else "worker in the bench's process …"
                ),
                flush=True,
            )
            rn = asyncio.run(renewal(args.renewals, args.renewal_accounts, args.renewal_workers))
            done = rn["renewed"]
            print(
                f"  keep-alive pass queued {rn['queued']:,} in {rn['pass_seconds']:.1f} s; "
                f"{rn['jobs']:,} keep-alive jobs; Google channels replaced {done['google']:,} "
                f"(old ones stopped {done['google_old_stopped']:,}), Graph subscriptions "
                f"extended {done['microsoft']:,}, failed {rn['failed']}"
            )
            print(
                f"  {rn['seconds']:.1f} s = {rn['rate']:.1f} renewals/s (target >= 200/s); "
                f"{rn['queries_per_renewal']:.1f} spacecal queries per renewal (target <= 5; "
                f"procrastinate's own fetch/finish and {rn['dispatcher_polls']} dispatcher "
                f"polls not counted); setup {rn['setup_seconds']:.0f} s",
                flush=True,
            )
        if "memory" in parts:
            print(
                f"\n[memory] spacecal worker, {args.idle_connections:,} idle connections, "
                f"{args.memory_seconds} s …",
                flush=True,
            )
            m = memory(args, server, tmp)
            print(
                f"  RSS peak {m['peak_mb']:.0f} MB, at the end {m['last_mb']:.0f} MB "
                f"(periodic sweep jobs seen: {m['sweeps']}) (target <= 200 MB)",
                flush=True,
            )
    finally:
        if not os.environ.get("DATABASE_URL"):
            from spacecal.db.embedded import stop_embedded

            stop_embedded(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
