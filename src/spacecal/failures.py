"""One failure policy: how long a loop waits after a failure before it tries again.

Four loops retry work that failed: sync (reconcile), renewal (keep-alive), leftover
stops and notes (sync/upkeep/orphan_channels.py, detached_calendars.py) and outbound
deliveries. They
used to write their own backoff (with different exponents) and read Retry-After in
their own ways (a `Retry-After: 0` became 60 s in two of them). Now each asks its
`Backoff` (built from the settings in config.py) for `wait_after(error, failures)`:

- an error that says how long to wait (`Throttling` with `retry_after`): exactly
  that, 0 included, since the other side knows its quota better than we do;
- throttling without a Retry-After: `throttle_default_seconds`;
- anything else: base, 2·base, 4·base … up to the cap, by the number of consecutive
  failures counting this one (the first failure waits `base`).

This module is a leaf (it imports only config) so that providers/, sync/ and
outbound/ can all use it; providers/base.py's `Throttled` is a `Throttling`.
The wait is relative: it is handed to procrastinate as a delay (`now() + delay` in
PostgreSQL's clock), or added to spacecal's clock for its own `retry_at` columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from spacecal.config import Settings

#: The longest error text a loop records (a provider's message can be a whole page).
ERROR_TEXT_LIMIT = 2000


def error_text(exc: BaseException, prefix: str = "") -> str:
    """What a loop records of a failure: the error's kind and message, bounded."""
    return f"{prefix}{type(exc).__name__}: {exc}"[:ERROR_TEXT_LIMIT]


class Throttling:
    """Mixin of errors meaning "over quota": `retry_after` is the other side's wait
    in seconds (Retry-After), or None when it did not say."""

    retry_after: float | None = None


class Loop(StrEnum):
    """The loops that retry, each with its own settings."""

    SYNC = "sync"
    RENEWAL = "renewal"
    LEFTOVERS = "leftovers"
    DELIVERY = "delivery"


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    cap_seconds: float
    throttled_seconds: float

    def delay(self, failures: int) -> timedelta:
        """The wait after `failures` consecutive failures (1 = the first):
        base · 2^(failures − 1), at most the cap."""
        exponent = min(max(failures - 1, 0), 60)
        return timedelta(seconds=min(self.cap_seconds, self.base_seconds * 2.0**exponent))

    def wait_after(self, error: BaseException | None, failures: int) -> timedelta:
        """The wait after `error`, the `failures`-th consecutive one (see the module)."""
        if isinstance(error, Throttling):
            if error.retry_after is not None:
                return timedelta(seconds=max(0.0, error.retry_after))
            return timedelta(seconds=self.throttled_seconds)
        return self.delay(failures)


def backoff(settings: Settings, loop: Loop) -> Backoff:
    """The policy of `loop`: sync has its own base and cap; renewal and leftovers share
    the renewal settings; deliveries use the outbound ones."""
    if loop is Loop.SYNC:
        base, cap = settings.sync_backoff_base_seconds, settings.sync_backoff_cap_seconds
    elif loop is Loop.DELIVERY:
        base, cap = settings.outbound_backoff_base_seconds, settings.outbound_backoff_cap_seconds
    else:
        base, cap = settings.renewal_backoff_base_seconds, settings.renewal_backoff_cap_seconds
    return Backoff(base, cap, settings.throttle_default_seconds)
