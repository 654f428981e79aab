"""spacecal's marker on the Graph calendars it makes, and what verification reads of a
calendar (sync/reconcile/verify.py): a single-value extended property, the owner,
`canEdit` and `isDefaultCalendar`."""

from __future__ import annotations

from typing import Any

from spacecal.providers.base import CalendarFacts

# The same property set GUID as the booking-id property (wire.py), another name.
MARKER_PROPERTY_ID = "String {6f1b7a0e-3c55-4a8e-9d43-5ac0b1e7c2f1} Name spacecalCalendar"
MARKER_VALUE = "spacecal-calendar/1"
MARKER = {"id": MARKER_PROPERTY_ID, "value": MARKER_VALUE}
MARKER_EXPAND = f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY_ID}')"


def facts_of(body: dict[str, Any], account_email: str) -> CalendarFacts:
    """A calendar resource read with MARKER_EXPAND (Graph returns the property only
    when it is set)."""
    props = body.get("singleValueExtendedProperties") or []
    marked = any(
        isinstance(p, dict)
        and str(p.get("id", "")).lower() == MARKER_PROPERTY_ID.lower()
        and p.get("value") == MARKER_VALUE
        for p in props
    )
    owner = body.get("owner")
    address = str(owner.get("address") or "") if isinstance(owner, dict) else ""
    return CalendarFacts(
        name=str(body.get("name") or ""),
        marked=marked,
        owned=bool(address) and address.lower() == account_email.lower(),
        can_edit=body.get("canEdit") is True,
        default=body.get("isDefaultCalendar") is not False,
    )
