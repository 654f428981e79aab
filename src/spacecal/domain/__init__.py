"""Pure booking rules: validation of spans and event -> booking decisions.

No I/O, and nothing from `spacecal.db`, `spacecal.api`, `spacecal.providers` or
`spacecal.sync`: callers pass plain values, including "now".
"""

from spacecal.domain.allday import all_day_span
from spacecal.domain.alternatives import (
    MAX_ALTERNATIVES,
    OFFERED_FOR,
    Alternative,
    Bookable,
    find_alternatives,
    with_alternatives,
)
from spacecal.domain.decide import beyond_horizon, decide_changes, latest_versions
from spacecal.domain.events import (
    CalendarEvent,
    EventLink,
    EventStatus,
    EventTime,
    LinkedBooking,
    RefusedTime,
    SyncState,
)
from spacecal.domain.marks import (
    MARK_LINE_PREFIX,
    TITLE_PREFIX,
    EventText,
    carries_mark,
    mark_refused,
    strip_mark,
    with_note,
)
from spacecal.domain.opening_hours import OpeningHours, OpenInterval
from spacecal.domain.plan import (
    CancelBooking,
    CreateBooking,
    MarkRefused,
    MoveBooking,
    Plan,
    PutBack,
    RemoveMark,
)
from spacecal.domain.rules import (
    BookedSpan,
    BusinessRules,
    Refusal,
    RefusalCode,
    ResourceRules,
    check_booking,
)
from spacecal.domain.series import repeat_series_unique_id
from spacecal.domain.timezones import (
    WINDOWS_TO_IANA,
    UnknownTimeZone,
    parse_provider_datetime,
    resolve_time_zone,
)

__all__ = [
    "MARK_LINE_PREFIX",
    "MAX_ALTERNATIVES",
    "OFFERED_FOR",
    "TITLE_PREFIX",
    "WINDOWS_TO_IANA",
    "Alternative",
    "Bookable",
    "BookedSpan",
    "BusinessRules",
    "CalendarEvent",
    "CancelBooking",
    "CreateBooking",
    "EventLink",
    "EventStatus",
    "EventText",
    "EventTime",
    "LinkedBooking",
    "MarkRefused",
    "MoveBooking",
    "OpenInterval",
    "OpeningHours",
    "Plan",
    "PutBack",
    "Refusal",
    "RefusalCode",
    "RefusedTime",
    "RemoveMark",
    "ResourceRules",
    "SyncState",
    "UnknownTimeZone",
    "all_day_span",
    "beyond_horizon",
    "carries_mark",
    "check_booking",
    "decide_changes",
    "find_alternatives",
    "latest_versions",
    "mark_refused",
    "parse_provider_datetime",
    "repeat_series_unique_id",
    "resolve_time_zone",
    "strip_mark",
    "with_alternatives",
    "with_note",
]
