"""Convergence under chaos, nightly-style: thousands of seeds of the chaos suite's
scenario (tests/chaos/), each on a fresh in-process stack, with progress, a summary
and every failing seed's story and replay command.

    uv run python bench/chaos.py --seeds 2000              # seeds 0..1999
    uv run python bench/chaos.py --first 5000 --seeds 1000 --steps 30
    uv run python bench/chaos.py --seed 17 --verbose        # replay one seed

Even seeds add Carol on CalDAV (a Radicale started here, behind the fault proxy).
Uses `DATABASE_URL`'s server when set (a throwaway database is created and dropped),
otherwise the embedded PostgreSQL in a temporary directory. Exit status 1 when any
seed fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from tests.chaos.harness import ChaosEnv, chaos_env, fast_commit_url  # noqa: E402
from tests.chaos.invariants import WRITES_PER_CHANGE  # noqa: E402
from tests.chaos.runner import CI_STEPS, SeedResult, run_seed  # noqa: E402
from tests.support.caldav_servers import start_radicale, stop  # noqa: E402
from tests.support.portal import PASSWORD  # noqa: E402

from spacecal.config import Settings  # noqa: E402
from spacecal.db.engine import open_database  # noqa: E402
from spacecal.db.url import to_libpq  # noqa: E402
from spacecal.web.auth import hash_password  # noqa: E402


def _database(server: str) -> str:
    name = f"spacecal_chaos_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return to_libpq(server).rsplit("/", 1)[0] + "/" + name


def _drop(url: str, server: str) -> None:
    name = url.rsplit("/", 1)[-1].split("?")[0]
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _summary(results: list[SeedResult], wall: float) -> str:
    times = sorted(r.seconds for r in results)
    failed = [r for r in results if not r.ok]
    faults: Counter[str] = Counter()
    for r in results:
        faults.update(r.tally.faults)
    changes = sum(r.tally.changes for r in results)
    writes = sum(r.writes for r in results)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    lines = [
        "",
        f"seeds: {len(results)}  passed: {len(results) - len(failed)}  failed: {len(failed)}",
        f"wall: {wall:.1f} s  ({len(results) / wall:.2f} seeds/s)",
        f"per seed: mean {statistics.mean(times):.2f} s, median {statistics.median(times):.2f} s,"
        f" p95 {p95:.2f} s, max {times[-1]:.2f} s",
        f"changes made: {changes}  provider event writes: {writes}"
        f"  (ratio {writes / max(changes, 1):.2f} writes per change; highest seed"
        f" {max(r.write_ratio for r in results):.2f} of the bound's"
        f" {WRITES_PER_CHANGE} per change per connection)",
        "faults injected (besides 5% drop / 10% duplicate / 10% delay of notifications): "
        + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())),
    ]
    if failed:
        lines.append("failing seeds: " + " ".join(str(r.seed) for r in failed))
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    server = os.environ.get("DATABASE_URL")
    embedded_dir: Path | None = None
    if server is None:
        from spacecal.db.embedded import start_embedded

        embedded_dir = Path(tempfile.mkdtemp(prefix="spacecal-chaos-"))
        embedded_dir.chmod(0o755)
        server = start_embedded(embedded_dir)
    url = _database(server)
    data_dir = Path(tempfile.mkdtemp(prefix="spacecal-chaos-data-"))
    settings = Settings(
        database_url=fast_commit_url(url),
        secret_keys=Fernet.generate_key().decode(),
        data_dir=data_dir,
    )
    database = await open_database(settings)
    password_hash = hash_password(PASSWORD)
    radicale = start_radicale()  # Carol's CalDAV server in even seeds

    def make(seed: int = 0) -> AsyncIterator[ChaosEnv]:
        return chaos_env(settings, database, password_hash, seed, radicale)

    seeds = [args.seed] if args.seed is not None else range(args.first, args.first + args.seeds)
    results: list[SeedResult] = []
    started = time.perf_counter()
    try:
        for index, seed in enumerate(seeds, 1):
            result = await run_seed(make, seed, args.steps)
            results.append(result)
            if args.verbose:
                print(f"seed {seed}: {'ok' if result.ok else 'FAILED'} ({result.seconds:.2f} s)")
                print("\n".join(f"    {line}" for line in result.log))
                print(f"    at the end: {result.final}")
            if not result.ok:
                print(result.report(), flush=True)
            if index % args.every == 0 or index == len(seeds):
                wall = time.perf_counter() - started
                bad = sum(not r.ok for r in results)
                print(
                    f"[{index}/{len(seeds)}] {wall:.0f} s, {index / wall:.2f} seeds/s,"
                    f" {bad} failed",
                    flush=True,
                )
    finally:
        stop(radicale)
        await database.dispose()
        _drop(url, server)
        shutil.rmtree(data_dir, ignore_errors=True)
        if embedded_dir is not None:
            from spacecal.db.embedded import stop_embedded

            stop_embedded(embedded_dir)
            shutil.rmtree(embedded_dir, ignore_errors=True)
    print(_summary(results, time.perf_counter() - started))
    return 1 if any(not r.ok for r in results) else 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1000, help="how many seeds (default 1000)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--seed", type=int, help="run this one seed only (a replay)")
    parser.add_argument(
        "--steps", type=int, default=CI_STEPS, help=f"actions per scenario (CI: {CI_STEPS})"
    )
    parser.add_argument("--every", type=int, default=25, help="progress line every N seeds")
    parser.add_argument("--verbose", action="store_true", help="print every seed's story")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
