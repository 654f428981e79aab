"""The one thing the Microsoft emulator needs from a clock: ``now()``.

A structural type so the shared ``EmulatorClock`` (or any test double with an aware
``now()``) can be injected without the Graph code depending on its concrete class.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ClockLike(Protocol):
    def now(self) -> datetime: ...
