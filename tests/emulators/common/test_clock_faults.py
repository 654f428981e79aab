"""The emulator clock and the fault plan, as a test or a control client sees them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spacecal.emulators.common import EmulatorClock, EmulatorRandom, FaultKind, FaultPlan


def test_frozen_clock_set_and_advance() -> None:
    start = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    clock = EmulatorClock(start, frozen=True)
    assert clock.now() == start
    clock.advance(timedelta(hours=2))
    assert clock.now() == start + timedelta(hours=2)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2027, 1, 1, tzinfo=UTC)


def test_running_clock_keeps_offset() -> None:
    clock = EmulatorClock(datetime(2030, 1, 1, tzinfo=UTC))
    first = clock.now()
    assert abs(first - datetime(2030, 1, 1, tzinfo=UTC)) < timedelta(seconds=5)
    clock.advance(timedelta(days=1))
    assert clock.now() - first >= timedelta(days=1)
    with pytest.raises(ValueError):
        clock.set(datetime(2030, 1, 1))


def test_next_n_calls_then_stops() -> None:
    plan = FaultPlan(EmulatorRandom(1))
    plan.add(FaultKind.HTTP_5XX, times=2, path="/calendar/*", status=503)
    assert plan.draw(FaultKind.HTTP_5XX, path="/other") is None
    fired = [plan.draw(FaultKind.HTTP_5XX, path="/calendar/v3/x") for _ in range(3)]
    assert [r is not None for r in fired] == [True, True, False]
    assert fired[0] is not None and fired[0].params == {"status": 503}


def test_match_on_method_and_account() -> None:
    plan = FaultPlan(EmulatorRandom(1))
    plan.add(FaultKind.HTTP_429, method="get", account="a@example.com")
    assert plan.draw(FaultKind.HTTP_429, method="POST", account="a@example.com") is None
    assert plan.draw(FaultKind.HTTP_429, method="GET", account="b@example.com") is None
    assert plan.draw(FaultKind.HTTP_429, method="GET", account="a@example.com") is not None


def test_probability_is_reproducible_from_seed() -> None:
    def pattern(seed: int) -> list[bool]:
        plan = FaultPlan(EmulatorRandom(seed))
        plan.add(FaultKind.DROP_NOTIFICATION, probability=0.5)
        return [plan.draw(FaultKind.DROP_NOTIFICATION) is not None for _ in range(40)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 5 < sum(pattern(7)) < 35
