"""Pure booking rules: validation of spans and event -> booking decisions.

No I/O, and nothing from `spacecal.db`, `spacecal.api`, `spacecal.providers` or
`spacecal.sync`: callers pass plain values, including "now".
"""

from spacecal.domain.opening_hours import OpeningHours, OpenInterval
from spacecal.domain.rules import (
    BookedSpan,
    BusinessRules,
    Refusal,
    RefusalCode,
    ResourceRules,
    check_booking,
)

__all__ = [
    "BookedSpan",
    "BusinessRules",
    "OpenInterval",
    "OpeningHours",
    "Refusal",
    "RefusalCode",
    "ResourceRules",
    "check_booking",
]
