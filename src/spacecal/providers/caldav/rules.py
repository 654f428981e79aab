"""Walking the RRULEs of one series with dateutil, bounded (ical.py reads the rest).

dateutil yields only matches: a rule that never matches again (BYMONTH=2;
BYMONTHDAY=31) walks silently to year 9999, seconds of CPU per resource. Each rule
here is walked (spacecal/recurrence.py) to the year after the window's end at most,
and MAX_RULE_YEARS in all; sub-daily rules are refused as the mail path refuses them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime, time

from dateutil.rrule import rrule, rrulestr
from icalendar.prop import vRecur

from spacecal.recurrence import bounded
from spacecal.recurrence import walk as walk_bounded

#: Years one rule is walked at most (about 0.1 s of CPU for a daily rule); an older
#: DTSTART leaves the series incomplete rather than freezing the worker.
MAX_RULE_YEARS = 100
#: A room is not booked every few seconds, minutes or hours (as in mail/ical.py).
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})


class RuleRefused(ValueError):
    """A rule spacecal does not expand (the text says why)."""


def _rule_text(rule: vRecur, base: datetime) -> str:
    """An RRULE for dateutil, with UNTIL in the form dateutil requires (UTC for an
    aware start, naive for an all-day one)."""
    rule = vRecur(rule)
    until = rule.get("UNTIL")
    if until:
        value = until[0]
        if base.tzinfo is not None:
            if not isinstance(value, datetime):
                value = datetime.combine(value, time(23, 59, 59), tzinfo=base.tzinfo)
            elif value.tzinfo is None:
                value = value.replace(tzinfo=base.tzinfo)
            rule["UNTIL"] = [value.astimezone(UTC)]
        else:
            if isinstance(value, datetime):
                value = value.replace(tzinfo=None)
            else:
                value = datetime.combine(value, time(0))
            rule["UNTIL"] = [value]
    text: str = rule.to_ical().decode()
    return "RRULE:" + text


def walk(
    rules: list[vRecur], base: datetime, dates: list[datetime], upper: datetime, cut: list[bool]
) -> Iterator[datetime]:
    """The instances of `rules` from `base` plus `dates`, in time order, each once;
    `cut` gets an entry when MAX_RULE_YEARS stopped a rule short of `upper`."""
    needed = upper.year - base.year + 1
    years = max(0, min(needed, MAX_RULE_YEARS))
    walks: list[Iterator[datetime]] = []
    for rule in rules:
        if any(str(f).upper() in _SUB_DAILY for f in rule.get("FREQ", [])):
            raise RuleRefused("a sub-daily RRULE (spacecal books no such series)")
        parsed = rrulestr(_rule_text(rule, base), dtstart=base)
        if not isinstance(parsed, rrule):
            raise RuleRefused("an RRULE spacecal cannot read")
        stopped: list[bool] = [] if needed <= MAX_RULE_YEARS else cut
        walks.append(walk_bounded(bounded(parsed, years), stopped))
    walks.append(iter(sorted(dates)))
    last: datetime | None = None
    for moment in heapq.merge(*walks):
        if moment != last:
            last = moment
            yield moment
