"""The one source of "now" in spacecal.

Every module asks `clock.now()` instead of `datetime.now()`, and SQL receives "now"
as a parameter, so tests (and the emulators' clock, moved in step) can shift time
without patching the standard library.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time plus an adjustable offset; optionally frozen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        """Jump to `when` and keep running from there."""
        if when.tzinfo is None:
            raise ValueError("clock.set needs a timezone-aware datetime")
        with self._lock:
            if self._frozen is not None:
                self._frozen = when.astimezone(UTC)
            else:
                self._offset = when.astimezone(UTC) - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += delta
            else:
                self._offset += delta

    def freeze(self, when: datetime | None = None) -> None:
        """Stop time at `when` (default: the current reading)."""
        current = when.astimezone(UTC) if when is not None else self.now()
        with self._lock:
            self._frozen = current

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - datetime.now(UTC)
                self._frozen = None

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
            self._frozen = None


clock = Clock()


def now() -> datetime:
    """Timezone-aware UTC "now" from the process clock."""
    return clock.now()
