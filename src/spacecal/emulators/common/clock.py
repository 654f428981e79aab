"""The emulator's own clock.

Emulators never read the wall clock directly: token lifetimes, channel expirations,
`updated` stamps and recurrence horizons all come from an `EmulatorClock`, so a test
can move spacecal's clock and the emulator's together (both run on real time plus an
offset, and both can be frozen). Deliberately a copy of the idea, not an import of
`spacecal.clock`: the emulators depend on nothing in spacecal.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class EmulatorClock:
    """Real time plus an adjustable offset; optionally frozen. Always aware UTC."""

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        if start is not None:
            _require_aware(start)
            if frozen:
                self._frozen = start.astimezone(UTC)
            else:
                self._offset = start.astimezone(UTC) - datetime.now(UTC)
        elif frozen:
            self._frozen = datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    @property
    def frozen(self) -> bool:
        with self._lock:
            return self._frozen is not None

    def set(self, when: datetime) -> None:
        """Jump to `when`; a running clock keeps running from there."""
        _require_aware(when)
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
        if when is not None:
            _require_aware(when)
        current = when.astimezone(UTC) if when is not None else self.now()
        with self._lock:
            self._frozen = current

    def unfreeze(self) -> None:
        """Let time run again from the frozen reading."""
        with self._lock:
            if self._frozen is None:
                return
            self._offset = self._frozen - datetime.now(UTC)
            self._frozen = None


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("the emulator clock needs a timezone-aware datetime")
