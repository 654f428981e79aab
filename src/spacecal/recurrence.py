"""Walking a dateutil rule for a bounded number of calendar years, matching or not.

dateutil yields only matches, and searches for the next one until year 9999: a rule
that never matches again walks silently through every year left, seconds of CPU per
rule (FREQ=DAILY;BYSETPOS=2 from 1900: ~6 s; BYMONTH=6;BYWEEKNO=53; INTERVAL=7;BYDAY=TU
from a Wednesday). Counting yields bounds nothing then. Both series expansions (CalDAV
events, providers/caldav/rules.py; invitations, mail/ical.py) walk through `walk`,
which stops a rule after the years it was given and says so.

dateutil's iterator reads the rule's `_byweekno` once per year it enters (1-5 times
with BYWEEKNO set, and twice on starting); that read is the only per-year hook it
offers, so a bounded rule makes it raise once the budget is spent. One year of a
DAILY rule costs about 0.7 ms that way, matching or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from dateutil.rrule import rrule


class _YearBudgetSpent(Exception):
    """A bounded rule walked all the years it was allowed."""


class _BoundedRule(rrule):
    _reads_left: int

    @property
    def _byweekno(self) -> Any:
        self._reads_left -= 1
        if self._reads_left < 0:
            raise _YearBudgetSpent
        return self.__dict__["_byweekno"]


def bounded(rule: rrule, years: int) -> rrule:
    """`rule` (changed in place) walking at least `years` calendar years at most; the
    iteration raises past them (`walk` turns that into a stop)."""
    rule.__class__ = _BoundedRule
    per_year = 5 if rule.__dict__["_byweekno"] else 1
    rule._reads_left = 2 * per_year + max(0, years) * per_year  # type: ignore[attr-defined]
    return rule


def walk(rule: rrule, stopped: list[bool]) -> Iterator[datetime]:
    """The instances of a `bounded` rule; `stopped` gets an entry when the years ran
    out (rather than the rule ending)."""
    try:
        yield from rule
    except _YearBudgetSpent:
        stopped.append(True)
