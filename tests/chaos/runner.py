"""Running one seed and reporting it: shared by the pytest suite and bench/chaos.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from tests.chaos.harness import ChaosEnv
from tests.chaos.invariants import check_all, final_state
from tests.chaos.scenario import Scenario, Tally
from tests.support.timing import chaos_start

#: Actions per scenario in CI (bench/chaos.py can ask for more).
CI_STEPS = 14


@dataclass
class SeedResult:
    seed: int
    steps: int
    problems: list[str]
    log: list[str]
    tally: Tally
    seconds: float
    writes: int = 0
    error: str | None = None
    final: str = ""
    write_ratio: float = 0.0  # writes per (change + reset + 1) per connection

    @property
    def ok(self) -> bool:
        return not self.problems and self.error is None

    def replay(self) -> str:
        return f"uv run python bench/chaos.py --seed {self.seed} --steps {self.steps} --verbose"

    def replay_in_pytest(self) -> str:
        seeds = f"{self.seed}-{self.seed}"
        return f"CHAOS_SEEDS={seeds} uv run pytest -q tests/chaos/test_convergence.py"

    def report(self) -> str:
        lines = [
            f"chaos seed {self.seed} ({self.steps} steps, clocks from"
            f" {chaos_start(self.seed):%Y-%m-%d %H:%M} UTC) FAILED"
        ]
        if self.error:
            lines.append(f"  error: {self.error}")
        lines += [f"  violated: {p}" for p in self.problems]
        lines.append(f"  at the end: {self.final}")
        lines.append("  story:")
        lines += [f"    {line}" for line in self.log]
        lines.append(f"  replay: {self.replay()}")
        if self.steps == CI_STEPS:
            lines.append(f"      or: {self.replay_in_pytest()}")
        return "\n".join(lines)


async def run_seed(
    make: Callable[[int], AsyncIterator[ChaosEnv]], seed: int, steps: int = CI_STEPS
) -> SeedResult:
    """One scenario on a fresh stack (`make(seed)`: its clocks start at the seed's
    instant); exceptions are part of the result."""
    started = time.perf_counter()
    scenario: Scenario | None = None
    error: str | None = None
    problems: list[str] = []
    async for env in make(seed):
        scenario = Scenario(env, seed, steps)
        try:
            await scenario.run()
            problems = await check_all(env, scenario)
        except Exception as exc:  # the run itself broke: a finding as well
            error = f"{type(exc).__name__}: {exc}"
        writes = env.event_writes() - scenario.writes_at_start
        final = await final_state(env, scenario)
        tally = scenario.tally
        per = (tally.changes + tally.resets + 1) * max(len(scenario.calendars), 1)
        ratio = writes / per
    assert scenario is not None
    return SeedResult(
        seed=seed,
        steps=steps,
        problems=problems,
        log=scenario.log,
        tally=scenario.tally,
        seconds=time.perf_counter() - started,
        writes=writes,
        error=error,
        final=final,
        write_ratio=ratio,
    )
