"""Driving bench/storm.py's load generator (its own process) from a test or the
benchmark, and the figures that say whether a storm lost anything: which channels
and subscriptions to hit (read from the emulators), RSS of the fleet sampled while it
blows, connections whose last acknowledged notification was not followed by a sync,
and how many syncs each connection got."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENERATOR = Path(__file__).resolve().parents[2] / "bench" / "storm.py"


@dataclass
class StormResult:
    figures: dict[str, Any]
    rss: dict[str, list[int]] = field(default_factory=dict)

    @property
    def last_ok(self) -> dict[int, float]:
        return {int(k): v for k, v in self.figures["last_ok"].items()}


async def storm_targets(fleet: Any, seats: list[Any]) -> list[dict[str, Any]]:
    """Every live channel / subscription of the seats, as the providers hold them."""
    import httpx2

    by_calendar = {s.calendar_id: s for s in seats}
    targets = []
    async with httpx2.AsyncClient(timeout=60) as http:
        channels = (await http.get(fleet.emulators["google"].urls["control"] + "/channels")).json()
        for ch in channels:
            seat = by_calendar.get(ch["calendar_id"])
            if seat is not None and ch["live"] and not ch["stopped"]:
                targets.append(
                    {
                        "provider": "google",
                        "seat": seat.connection_id,
                        "channel": ch["id"],
                        "secret": ch["token"],
                        "resource_id": ch["resourceId"],
                    }
                )
        subs = (
            await http.get(
                fleet.emulators["microsoft"].urls["control"] + "/microsoft/subscriptions"
            )
        ).json()
        for sub in subs:
            calendar = str(sub["resource"]).split("/calendars/")[-1].split("/")[0]
            seat = by_calendar.get(calendar)
            if seat is not None:
                targets.append(
                    {
                        "provider": "microsoft",
                        "seat": seat.connection_id,
                        "channel": sub["id"],
                        "secret": sub["clientState"],
                        "resource_id": sub["resource"],
                    }
                )
    return targets


def run_storm(
    fleet: Any,
    targets: list[dict[str, Any]],
    token: str,
    *,
    notifications: int,
    http_connections: int,
    seed: int = 0,
    reads_per_second: float = 20.0,
) -> StormResult:
    """The load generator in its own process; RSS of the fleet sampled meanwhile."""
    import psutil

    plan = {
        "targets": targets,
        "apis": fleet.api_urls,
        "notifications": notifications,
        "http_connections": http_connections,
        "token": token,
        "seed": seed,
        "reads_per_second": reads_per_second,
    }
    plan_file = fleet.root / f"storm-{uuid.uuid4().hex[:6]}.json"
    plan_file.write_text(json.dumps(plan))
    procs = {p.name: p.pid for p, _ in fleet.apis} | {w.name: w.pid for w in fleet.workers}
    rss: dict[str, list[int]] = {name: [] for name in procs}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for name, pid in procs.items():
                with contextlib.suppress(psutil.Error):
                    rss[name].append(psutil.Process(pid).memory_info().rss)
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        done = subprocess.run(
            [sys.executable, str(GENERATOR), "fire", str(plan_file)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    finally:
        stop.set()
        sampler.join()
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-3000:]}")
    return StormResult(json.loads(done.stdout.strip().splitlines()[-1]), rss)


def mb(values: list[int]) -> str:
    if not values:
        return "n/a"
    return f"{values[0] / 2**20:.0f} → peak {max(values) / 2**20:.0f} → {values[-1] / 2**20:.0f} MB"


def missed_syncs(db_url: str, last_ok: dict[int, float]) -> list[int]:
    """Connections whose last acknowledged notification was not followed by a sync
    that started after it (a lost trigger)."""
    import psycopg

    with psycopg.connect(db_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT connection_id, extract(epoch FROM max(started_at)) FROM sync_runs"
                " GROUP BY connection_id"
            ).fetchall()
        )
    return [seat for seat, sent in last_ok.items() if float(rows.get(seat) or 0) < sent]


def sync_counts(db_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(n), 0), coalesce(max(n), 0) FROM"
            " (SELECT count(*) AS n FROM sync_runs GROUP BY connection_id) s"
        ).fetchone()
    assert row is not None
    return {"total": int(row[0]), "max": int(row[1])}
