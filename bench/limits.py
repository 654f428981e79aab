"""What the limits of issue 17 item 5 cost: spacecal before and after them, beside the
unchanged bare app, in one run, interleaved.

    uv run python bench/limits.py [--records 20000] [--duration 5] [--rounds 3]
                                  [--connections 32]

Three servers, each its own process, loaded by wrk from another process on loopback:

- bare: bench/bare_app.py on plain uvicorn + httptools (the reference of bench/api.py
  and bench/sync.py);
- before: spacecal's app on plain uvicorn + httptools without the body limits
  (web/limits.py taken out of the stack here, in the bench only): what bench/api.py
  and bench/sync.py measured until now;
- after: `spacecal serve --no-worker`, as an operator runs it: the guarded httptools
  protocol (web/guard.py) and the body limits.

- bare, guarded: the bare app under the body limits on the guarded protocol (`uvicorn`
  with `http=` the class `spacecal serve` passes): the cost of the limits alone, on
  an endpoint that does nothing else (an upper bound of their share).

Workloads: get-one with a Bearer token (bench/api.py's random-record script) against
the bare `/record`, and Google notifications (bench/sync.py's intake script) against
the bare `/notify`. Each round measures bare, then before and after in alternating
order (A/B, then B/A), so a load change on a shared machine falls on both; the summary
is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from bench.api import (  # noqa: E402
    PASSWORD,
    RANDOM_IDS,
    drop_database,
    fresh_database,
    seed,
    server_url,
    start,
    uvicorn_cmd,
    wait_ready,
    wrk,
)
from bench.sync import LUA, _wrk_script, add_channels, base_env, free_port, stop_all  # noqa: E402


def unlimited_app() -> Any:
    """spacecal's app without web/limits.py: the stack as it was before item 5."""
    import spacecal.app

    spacecal.app.LimitBodies = lambda app, limits: app  # type: ignore[assignment,misc]
    return spacecal.app.create_app()


def serve_bare_guarded(port: int) -> None:
    """bench/bare_app.py behind web/limits.py on web/guard.py's protocol."""
    import uvicorn

    from bench.bare_app import app
    from spacecal.config import Settings
    from spacecal.web.guard import guarded_protocol
    from spacecal.web.limits import BodyLimits, LimitBodies

    settings = Settings()
    limited = LimitBodies(app, BodyLimits.from_settings(settings))
    uvicorn.run(
        limited,
        host="127.0.0.1",
        port=port,
        http=guarded_protocol(settings),
        log_level="warning",
        access_log=False,
    )


def main() -> None:
    if sys.argv[1:2] == ["--serve-bare-guarded"]:
        serve_bare_guarded(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/limits.py needs wrk: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="spacecal-bench-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    server = db_url = None
    try:
        server = server_url(tmp)
        db_url = fresh_database(server)
        seed(db_url, args.records)
        add_channels(db_url)
        env = base_env(db_url, tmp)

        async def make_user() -> None:
            from spacecal.api.users import create_user
            from spacecal.config import Settings
            from spacecal.db.engine import open_database

            settings = Settings(database_url=db_url, secret_keys=env["SPACECAL_SECRET_KEYS"])
            db = await open_database(settings)
            await create_user(db.engine, "bench@example.com", PASSWORD, [], True)
            await db.dispose()

        asyncio.run(make_user())
        ports = {name: free_port() for name in ("bare", "guarded", "before", "after")}
        procs.append(start(uvicorn_cmd("bench.bare_app:app", ports["bare"]), env))
        procs.append(start(uvicorn_cmd("bench.limits:unlimited_app()", ports["before"]), env))
        guarded = [sys.executable, "bench/limits.py", "--serve-bare-guarded", str(ports["guarded"])]
        procs.append(start(guarded, env))
        serve = Path(sys.executable).with_name("spacecal")
        argv = [str(serve), "serve", "--no-worker", "--port", str(ports["after"])]
        # No access line per request: plain uvicorn above writes none either.
        quiet = {**env, "SPACECAL_LOG_LEVEL": "warning"}
        procs.append(start([*argv, "--log-level", "warning"], quiet))
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        wait_ready(url["bare"] + "/record", procs[0])
        wait_ready(url["guarded"] + "/record", procs[1])
        wait_ready(url["before"] + "/healthz", procs[2])
        wait_ready(url["after"] + "/healthz", procs[3])
        form = {"grant_type": "password", "username": "bench@example.com", "password": PASSWORD}
        token = httpx2.post(url["after"] + "/api/token", data=form).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        ids = tmp / "random_ids.lua"
        prefix = "/api/spaces/coworkergooglecalendars/"
        ids.write_text(RANDOM_IDS.format(prefix=prefix, count=args.records // 2))
        notify = tmp / "notify.lua"
        notify.write_text(LUA.format(n=args.records, path="/webhooks/google"))
        bare_notify = tmp / "bare_notify.lua"
        bare_notify.write_text(LUA.format(n=args.records, path="/notify"))
        c, d = args.connections, args.duration

        def get_one(name: str, seconds: int) -> float:
            return wrk(url[name] + prefix, seconds, c, bearer, ids)["rps"]

        def intake(name: str, seconds: int) -> float:
            return _wrk_script(url[name], notify, seconds, c)["rps"]

        for name in ("before", "after"):  # warm up
            get_one(name, 2)
            intake(name, 2)
        rows: list[dict[str, float]] = []
        for n in range(args.rounds):
            order = ("before", "after") if n % 2 == 0 else ("after", "before")
            bares = ("bare", "guarded") if n % 2 == 0 else ("guarded", "bare")
            row = {"load": os.getloadavg()[0]}
            for name in bares:
                row[f"{name} get"] = wrk(url[name] + "/record", d, c, {})["rps"]
            for name in order:
                row[f"{name} get"] = get_one(name, d)
            for name in bares:
                row[f"{name} post"] = _wrk_script(url[name], bare_notify, d, c)["rps"]
            for name in order:
                row[f"{name} post"] = intake(name, d)
            rows.append(row)
            print(
                f"round {n + 1} ({'/'.join(order)}), load {row['load']:.2f}: "
                + ", ".join(f"{k} {v:.0f}/s" for k, v in row.items() if k != "load"),
                flush=True,
            )

        def med(f: Any) -> str:
            values = [f(r) for r in rows]
            return f"{statistics.median(values):.2f} ({', '.join(f'{v:.2f}' for v in values)})"

        print(
            f"\nwrk -t1 -c{c} -d{d}s on loopback, {args.records:,} records, "
            f"{os.cpu_count()} cores, {len(rows)} rounds; median (each round):"
        )
        for kind, label in (
            ("get", "get-one, Bearer (bare: /record)"),
            ("post", "Google notification (bare: /notify)"),
        ):
            print(f"  {label}:")
            print(f"    before / bare  {med(lambda r, k=kind: r[f'before {k}'] / r[f'bare {k}'])}")
            print(f"    after / bare   {med(lambda r, k=kind: r[f'after {k}'] / r[f'bare {k}'])}")
            print(f"    after / before {med(lambda r, k=kind: r[f'after {k}'] / r[f'before {k}'])}")
            guarded_share = med(lambda r, k=kind: r[f"guarded {k}"] / r[f"bare {k}"])
            print(f"    bare guarded / bare {guarded_share}")
    finally:
        stop_all(procs)
        if server is not None and db_url is not None:
            drop_database(server, db_url)
        if not os.environ.get("DATABASE_URL"):
            from spacecal.db.embedded import stop_embedded

            stop_embedded(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
