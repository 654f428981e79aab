"""Progress of a long operation, on stderr (stdout stays for results and scripts).

On a terminal: one bar redrawn in place. Otherwise (a pipe, a log file, CI): a plain
line at most every `every_seconds` and a final line, so logs show the operation
moving without a line per item.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        every_seconds: float = 5.0,
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.total = max(0, total)
        self.done = 0
        self.stream = stream or sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.tty = tty if tty is not None else bool(callable(isatty) and isatty())
        self.every = every_seconds
        self._started = time.monotonic()
        self._last_line = self._started
        self._closed = False
        if self.tty:
            self._draw()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.tty:
            self._draw()
        elif now - self._last_line >= self.every:
            self._last_line = now
            self._line()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.tty:
            self._draw()
            self.stream.write("\n")
        else:
            self._line()
        self.stream.flush()

    def _fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)

    def _draw(self) -> None:
        filled = int(WIDTH * self._fraction())
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = time.monotonic() - self._started
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} "
            f"{self._fraction():4.0%} {elapsed:5.1f}s"
        )
        self.stream.flush()

    def _line(self) -> None:
        elapsed = time.monotonic() - self._started
        self.stream.write(
            f"{self.label}: {self.done}/{self.total} ({self._fraction():.0%}) "
            f"after {elapsed:.1f}s\n"
        )
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
