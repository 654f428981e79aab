"""Time for tests: the fixed instants environments start at, and the one wait helper.

Every environment (portal, sync, keep-alive, chaos, admin) starts spacecal's clock and
the emulators' clocks at an instant chosen by the test, never at the wall clock
(DESIGN, Time), so a test does not depend on the time of day or the date it runs:

- `START` by default: a Wednesday morning in winter (10:00 London, 05:00 New York);
- `@pytest.mark.start_at("2027-03-27T23:30:00+00:00")` on a test for another instant
  (23:30 London, a DST night, ...): the `env_start` fixture reads it;
- the chaos harness: `chaos_start(seed)`, an instant in 2027 derived from the seed, so
  a replay line (the seed) reproduces the same run at the same simulated time.

The clocks run (they are not frozen) from that instant on; tests move them together.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import pytest
import time_machine

from spacecal import clock

#: The default start of every environment: Wednesday 2031-01-15 10:00 UTC (= London).
#: Well after any date the suite is run or travelled to, so an instant spacecal hands
#: to procrastinate (an absolute `scheduled_at`, until job scheduling is relative) is
#: never already due in PostgreSQL's time.
START = datetime(2031, 1, 15, 10, 0, tzinfo=UTC)

# Process fleets (tests/support/procs.py) run at START too: their processes cannot
# share an in-process clock, so each is given one offset from the machine's time,
# taken once per session, and applies it to its own clock from the start
# (SPACECAL_CLOCK_OFFSET_SECONDS, `spacecal emulate --clock-offset`).
_FLEET_OFFSET: list[timedelta] = []


def _machine_now() -> datetime:
    """The machine's time, the one a child process reads even while this process
    travels (--travel): the offset is taken against it."""
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.datetime.datetime.now(UTC)
    return datetime.now(UTC)


def fleet_offset() -> timedelta:
    """How far every fleet process's clock runs from the machine's: START at the
    session's first fleet, ticking from there."""
    if not _FLEET_OFFSET:
        _FLEET_OFFSET.append(START - _machine_now())
    return _FLEET_OFFSET[0]


def fleet_now() -> datetime:
    """What every fleet process's clock reads now."""
    return _machine_now() + fleet_offset()


#: The chaos runs' year: seeds map onto every minute of 2031 (both DST nights, every
#: late evening included).
CHAOS_YEAR = datetime(2031, 1, 1, tzinfo=UTC)

T = TypeVar("T")


class Settable(Protocol):
    def set(self, when: datetime) -> None: ...


def chaos_start(seed: int) -> datetime:
    """The simulated instant chaos seed `seed` starts at (a whole minute of 2031)."""
    minutes = random.Random(f"chaos-start-{seed}").randrange(365 * 24 * 60)
    return CHAOS_YEAR + timedelta(minutes=minutes)


def parse_instant(value: str | datetime) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"a start instant needs a UTC offset or zone: {value!r}")
    return when


def start_clocks(at: datetime, *emulator_clocks: Settable) -> None:
    """spacecal's clock and each emulator clock read `at` now, and run on from it."""
    clock.clock.reset()
    clock.clock.set(at)
    for other in emulator_clocks:
        other.set(at)


@pytest.fixture
def env_start(request: pytest.FixtureRequest) -> datetime:
    """The instant this test's environment starts at (`start_at` marker, or START)."""
    marker = request.node.get_closest_marker("start_at")
    if marker is None:
        return START
    return parse_instant(marker.args[0])


@pytest.fixture
def fixed_clock(env_start: Any) -> Any:
    """spacecal's clock at the test's start instant (for tests without an environment);
    put back to the wall clock afterwards."""
    start_clocks(env_start)
    yield clock.clock
    clock.clock.reset()


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    within: float = 10.0,
    interval: float = 0.05,
    what: str = "",
) -> T:
    """Call `check` (sync or async) until it returns something truthy without raising
    AssertionError; return that. Times out with the last value or assertion.

    Waits in the event loop's (monotonic) time: unaffected by spacecal's clock or by a
    travelling wall clock."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            last = value
        except AssertionError as error:
            last = error
        if time.monotonic() >= deadline:
            if isinstance(last, AssertionError):
                raise AssertionError(f"not within {within:g}s: {what} {last}") from last
            raise AssertionError(f"not within {within:g}s: {what} (last: {last!r})")
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T], *, within: float = 10.0, interval: float = 0.05, what: str = ""
) -> T:
    """`eventually` for code outside an event loop (threads, subprocesses)."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except AssertionError as error:
            last = error
        if time.monotonic() >= deadline:
            if isinstance(last, AssertionError):
                raise AssertionError(f"not within {within:g}s: {what} {last}") from last
            raise AssertionError(f"not within {within:g}s: {what} (last: {last!r})")
        time.sleep(interval)
