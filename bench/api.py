"""Benchmark of the records API against a bare FastAPI endpoint, in the same run.

    uv run python bench/api.py [--records 100000] [--duration 10] [--connections 32]
                               [--rounds 3]

Seeds N connection records into a fresh database (DATABASE_URL's server, or the
embedded one in a temporary directory; the database is dropped at the end), serves
spacecal and the bare reference app with the same uvicorn settings (one process
each), and loads each from a second process with wrk (Debian package `wrk`) on
loopback. Prints requests/s and p50/p99 for: get-one with a Bearer token, get-one with
Basic (each request a random one of the N/2 Google records, wrk Lua script), a
filtered and ordered search page, and the bare endpoint; then the ratios the issue
tracks. A low-concurrency pass gives the search page's latency without queueing.

Each round measures every endpoint once, the bare one first, so a ratio compares
figures taken a minute apart at most; with several rounds the summary is the median
of the rounds' figures and of their ratios (the machine may be shared: the load
average is printed with each round).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from base64 import b64encode
from pathlib import Path

import httpx2
import psycopg
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench password 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_url(tmp: Path) -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from spacecal.db.embedded import start_embedded

    return start_embedded(tmp)


def fresh_database(server: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    from spacecal.db.url import to_libpq

    name = f"spacecal_bench_{os.getpid()}"
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(to_libpq(server))._replace(path="/" + name))


def drop_database(server: str, url: str) -> None:
    from spacecal.db.url import to_libpq

    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ratio(rows: list[dict[str, float]], i: int) -> float:
    return rows[i]["rps"] / rows[0]["rps"]


def print_table(names: list[str], rows: list[dict[str, float]]) -> None:
    print(f"{'endpoint':<30} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, r in zip(names, rows, strict=True):
        print(f"{name:<30} {r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['non2xx']:>8.0f}")


def seed(url: str, records: int) -> None:
    """Businesses, resources, coworkers and `records` connection records, in SQL.
    Each (coworker, resource) pair is used once (connections are unique on member,
    resource and provider): up to 10,000,000 records."""
    from spacecal.db.migrate import upgrade

    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO businesses (name, time_zone, max_booking_days_ahead, unique_id,"
            " created_on, updated_on) SELECT 'Location ' || g, 'Europe/London', 90,"
            " gen_random_uuid(), now(), now() FROM generate_series(1, 10) g"
        )
        conn.execute(
            "INSERT INTO resources (business_id, name, resource_type, visible, bookable,"
            " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
            " SELECT 1 + g % 10, 'Room ' || g, 'room', true, true, false, 15,"
            " gen_random_uuid(), now(), now() FROM generate_series(1, 500) g"
        )
        conn.execute(
            "INSERT INTO coworkers (business_id, full_name, email, unique_id, created_on,"
            " updated_on) SELECT 1 + g % 10, 'Member ' || g, 'm' || g || '@example.com',"
            " gen_random_uuid(), now(), now() FROM generate_series(1, 20000) g"
        )
        conn.execute(
            "INSERT INTO connections (provider, resource_id, coworker_id, name,"
            " subscription_id, calendar_id, subscription_expire_date, watch_resource_id,"
            " health, push_supported, unique_id, created_on, updated_on)"
            " SELECT CASE WHEN g %% 2 = 0 THEN 'google' ELSE 'microsoft' END, 1 + g %% 500,"
            " 1 + (g / 500) %% 20000, 'Room ' || (1 + g %% 500) || ' · Location ' || g,"
            " 'chan-' || g, 'cal-' || g || '@group.calendar.google.com',"
            " now() + (g %% 168) * interval '1 hour', 'res-' || g, 'healthy', true,"
            " gen_random_uuid(), now(), now() FROM generate_series(1, %s) g",
            (records,),
        )
        conn.execute("ANALYZE")


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            if httpx2.get(url, timeout=1).status_code < 500:
                return
        except httpx2.TransportError:
            time.sleep(0.2)
    raise SystemExit(f"{url} never became ready")


def uvicorn_cmd(target: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target.removesuffix("()"),
        "--factory" if target.endswith("()") else "",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([a for a in args if a], env=env, cwd=ROOT)


RANDOM_IDS = """
-- Each request asks for a random Google record (the seed makes even ids Google's).
math.randomseed(os.time())
local prefix, count = "{prefix}", {count}
request = function()
  return wrk.format("GET", prefix .. (2 * math.random(1, count)))
end
"""


def wrk(
    url: str,
    duration: int,
    connections: int,
    headers: dict[str, str],
    script: Path | None = None,
) -> dict[str, float]:
    cmd = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency"]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs wrk: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="spacecal-bench-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    server = db_url = None
    try:
        print(f"seeding {args.records:,} connection records …", flush=True)
        t0 = time.monotonic()
        server = server_url(tmp)
        db_url = fresh_database(server)
        seed(db_url, args.records)
        print(f"  seeded in {time.monotonic() - t0:.1f} s", flush=True)

        key = Fernet.generate_key().decode()
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "SPACECAL_SECRET_KEYS": key,
            "SPACECAL_DATA_DIR": str(tmp / "data"),
        }
        import asyncio

        from spacecal.api.users import create_user
        from spacecal.config import Settings
        from spacecal.db.engine import open_database

        async def make_user() -> None:
            db = await open_database(Settings(database_url=db_url, secret_keys=key))
            await create_user(db.engine, "bench@example.com", PASSWORD, [], True)
            await db.dispose()

        asyncio.run(make_user())

        api_port, bare_port = free_port(), free_port()
        procs.append(start(uvicorn_cmd("spacecal.app:create_app()", api_port), env))
        procs.append(start(uvicorn_cmd("bench.bare_app:app", bare_port), env))
        api, bare = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        wait_ready(api + "/healthz", procs[0])
        wait_ready(bare + "/record", procs[1])
        token = httpx2.post(
            api + "/api/token",
            data={
                "grant_type": "password",
                "username": "bench@example.com",
                "password": PASSWORD,
            },
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        basic = {
            "Authorization": "Basic " + b64encode(f"bench@example.com:{PASSWORD}".encode()).decode()
        }
        record_id = args.records // 2
        get_one = f"{api}/api/spaces/coworkergooglecalendars/"
        random_ids = tmp / "random_ids.lua"
        random_ids.write_text(
            RANDOM_IDS.format(
                prefix="/api/spaces/coworkergooglecalendars/", count=args.records // 2
            )
        )
        search = (
            f"{api}/api/spaces/coworkergooglecalendars?CoworkerGoogleCalendar_Resource=123"
            "&orderBy=Name&dir=1&size=25"
        )
        one = httpx2.get(f"{get_one}{record_id}", headers=bearer)
        assert one.status_code == 200, one.text
        found = httpx2.get(search, headers=bearer).json()
        print(
            f"  search page: {len(found['Records'])} of {found['TotalItems']} records", flush=True
        )
        wrk(f"{bare}/record", 2, args.connections, {})  # warm up
        wrk(get_one, 2, args.connections, bearer, random_ids)
        wrk(get_one, 2, args.connections, basic, random_ids)
        wrk(search, 2, args.connections, bearer)

        c, d = args.connections, args.duration
        names = [
            "bare FastAPI constant",
            "get-one, Bearer",
            "get-one, Basic",
            "search page (filter+order)",
            "search page, 1 connection",
        ]
        rounds: list[list[dict[str, float]]] = []
        for n in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            rows = [
                wrk(f"{bare}/record", d, c, {}),
                wrk(get_one, d, c, bearer, random_ids),
                wrk(get_one, d, c, basic, random_ids),
                wrk(search, d, c, bearer),
                wrk(search, d, 1, bearer),
            ]
            rounds.append(rows)
            print(
                f"\nround {n}: load average {load:.2f} before, {os.getloadavg()[0]:.2f} after",
                flush=True,
            )
            print_table(names, rows)
            print(f"  get-one / bare: Bearer {ratio(rows, 1):.2f}, Basic {ratio(rows, 2):.2f}")

        print(
            f"\nwrk -t1 -c{c} -d{d}s on loopback; {args.records:,} records; "
            f"{os.cpu_count()} cores; database: "
            f"{'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'}; "
            f"median of {len(rounds)} round(s)"
        )
        median = [
            {k: statistics.median(r[i][k] for r in rounds) for k in rounds[0][i]}
            for i in range(len(names))
        ]
        print_table(names, median)
        print(
            "\nratios to the bare endpoint, median of the rounds' ratios (target get-one >= 0.30):"
        )
        for i in (1, 2, 3):
            each = ", ".join(f"{ratio(r, i):.2f}" for r in rounds)
            print(
                f"  {names[i]:<28} {statistics.median(ratio(r, i) for r in rounds):.2f}  ({each})"
            )
        p99s = ", ".join(f"{r[4]['p99']:.2f}" for r in rounds)
        print(
            f"search page p99 at 1 connection: {median[4]['p99']:.2f} ms median ({p99s}) "
            f"(target <= 30 ms); under {c} connections: {median[3]['p99']:.2f} ms"
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if server is not None and db_url is not None:
            drop_database(server, db_url)
        if not os.environ.get("DATABASE_URL"):
            from spacecal.db.embedded import stop_embedded

            stop_embedded(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
