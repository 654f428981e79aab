"""A fixed-rate HTTP load generator for bench/sync.py (wrk2 is not available here).

`run_client(...)` runs this module in a second process: it sends Google-style
notifications at `rate` per second for `duration` seconds over a few keep-alive
connections and prints one JSON line. Latency is measured from each request's
*scheduled* send time, not from when a connection was free, so a server stall shows
in the percentiles instead of silently lowering the rate (coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from typing import Any

CONNECTIONS = 16


def _request(path: str, i: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
        f"X-Goog-Channel-ID: chan-{i}\r\nX-Goog-Channel-Token: tok-{i}\r\n"
        f"X-Goog-Resource-State: exists\r\nX-Goog-Resource-ID: res-{i}\r\n"
        f"X-Goog-Message-Number: {i}\r\n\r\n"
    ).encode()


async def _load(
    host: str, port: int, path: str, n: int, rate: float, duration: float
) -> dict[str, Any]:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, i: int) -> None:
        nonlocal errors
        reader, writer = await pool.get()
        try:
            writer.write(_request(path, i))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors += 1
            latencies.append((time.perf_counter() - scheduled) * 1000)
        finally:
            pool.put_nowait((reader, writer))

    tasks = []
    began = time.perf_counter()
    total = int(rate * duration)
    for k in range(total):
        scheduled = began + k / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, random.randint(1, n))))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))]

    return {
        "sent": total,
        "errors": errors,
        "seconds": elapsed,
        "rate": total / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": latencies[-1],
    }


def run_client(
    host: str, port: int, path: str, n: int, rate: float, duration: float
) -> dict[str, Any]:
    """Run the load in a second process; its figures."""
    done = subprocess.run(
        [sys.executable, __file__, host, str(port), path, str(n), str(rate), str(duration)],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 120,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    h, p, pa, count, r, d = sys.argv[1:7]
    print(json.dumps(asyncio.run(_load(h, int(p), pa, int(count), float(r), float(d)))))
