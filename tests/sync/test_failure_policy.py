"""The one failure policy (spacecal.failures): backoff by consecutive failures, and
Retry-After taken exactly, for every loop that retries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet

from spacecal.config import Settings
from spacecal.failures import Backoff, Loop, backoff
from spacecal.providers.base import NotFound, Throttled, Transient

POLICY = Backoff(base_seconds=30, cap_seconds=200, throttled_seconds=60)


def _seconds(wait: timedelta) -> float:
    return wait.total_seconds()


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [_seconds(POLICY.delay(n)) for n in (1, 2, 3, 4, 5, 100)] == [
        30,
        60,
        120,
        200,
        200,
        200,
    ]
    assert _seconds(POLICY.delay(0)) == 30  # never less than the base


@pytest.mark.parametrize("retry_after", [0.0, 1.5, 7200.0])
def test_retry_after_is_honoured_exactly(retry_after: float) -> None:
    """0 means 0 (it used to become 60 s), and a long one is not capped."""
    error = Throttled("slow down", status=429, retry_after=retry_after)
    for failures in (1, 5):
        assert _seconds(POLICY.wait_after(error, failures)) == retry_after


def test_throttling_without_retry_after_waits_the_default() -> None:
    error = Throttled("slow down", status=503)
    assert _seconds(POLICY.wait_after(error, 3)) == 60


def test_other_failures_back_off() -> None:
    for error in (Transient("5xx", status=502), NotFound("gone", status=404), RuntimeError()):
        assert _seconds(POLICY.wait_after(error, 2)) == 60


def test_each_loop_takes_its_settings() -> None:
    settings = Settings(
        database_url="postgresql://u/u",
        secret_keys=Fernet.generate_key().decode(),
        sync_backoff_base_seconds=1,
        sync_backoff_cap_seconds=2,
        renewal_backoff_base_seconds=3,
        renewal_backoff_cap_seconds=4,
        outbound_backoff_base_seconds=5,
        outbound_backoff_cap_seconds=6,
        throttle_default_seconds=7,
    )
    got = {loop: backoff(settings, loop) for loop in Loop}
    assert got == {
        Loop.SYNC: Backoff(1, 2, 7),
        Loop.RENEWAL: Backoff(3, 4, 7),
        Loop.LEFTOVERS: Backoff(3, 4, 7),
        Loop.DELIVERY: Backoff(5, 6, 7),
    }
