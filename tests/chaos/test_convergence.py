"""Convergence under chaos: every seed runs one scenario (tests/chaos/scenario.py)
on a fresh stack and must end with every invariant holding (invariants.py).

`CHAOS_SEEDS` picks the seeds: a count ("200", the default: seeds 0-199), a range
("1000-1199") or a list ("17,42"). A failing seed prints its story and a replay
command.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable

import pytest
from tests.chaos.harness import ChaosEnv
from tests.chaos.runner import run_seed


def seeds_from(spec: str) -> list[int]:
    spec = spec.strip()
    if "," in spec:
        return [int(s) for s in spec.split(",") if s.strip()]
    if "-" in spec:
        first, last = spec.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return list(range(int(spec)))


SEEDS = seeds_from(os.environ.get("CHAOS_SEEDS", "200"))

#: Seeds that fail for a diagnosed bug not fixed yet: seed -> the diagnosis.
KNOWN: dict[int, str] = {}


def _param(seed: int) -> object:
    if seed in KNOWN:
        # Not strict: a seed's story also depends on loop turns, so a known failure
        # may pass when the timing shifts; it is listed here until fixed.
        return pytest.param(seed, marks=pytest.mark.xfail(reason=KNOWN[seed], strict=False))
    return seed


@pytest.mark.parametrize("seed", [_param(s) for s in SEEDS], ids=[f"seed{s}" for s in SEEDS])
async def test_converges(make_chaos_env: Callable[..., AsyncIterator[ChaosEnv]], seed: int) -> None:
    result = await run_seed(make_chaos_env, seed)
    if not result.ok:
        pytest.fail(result.report(), pytrace=False)
