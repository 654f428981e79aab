"""Acting as the member in Outlook: what people do to their own calendar.

These write straight into the mailbox (no HTTP, no token), exactly as a change made
in Outlook would, so they produce change notifications and delta entries like any
other write. Times are aware datetimes; ``time_zone`` is the zone Outlook records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .mailbox import Mailbox
from .model import Instance
from .render import event_json
from .timezones import format_date_time_time_zone


def _dtz(moment: datetime, zone: str) -> dict[str, str]:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return format_date_time_time_zone(moment, zone)


class MemberActions:
    def mailbox(self, email: str) -> Mailbox:
        raise NotImplementedError

    def create_calendar(self, email: str, name: str) -> dict[str, Any]:
        cal = self.mailbox(email).create_calendar(name)
        return {"id": cal.id, "name": cal.name}

    def create_event(
        self,
        email: str,
        calendar_id: str | None,
        subject: str,
        start: datetime,
        end: datetime,
        *,
        time_zone: str = "UTC",
        recurrence: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create an event (a series when ``recurrence`` is a patternedRecurrence)."""
        box = self.mailbox(email)
        payload: dict[str, Any] = {
            "subject": subject,
            "start": _dtz(start, time_zone),
            "end": _dtz(end, time_zone),
            **(extra or {}),
        }
        if recurrence is not None:
            payload["recurrence"] = recurrence
        event, _ = box.create_event(calendar_id or box.default_calendar.id, payload)
        return event_json(event, "UTC")

    def edit_event(self, email: str, event_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """PATCH an event, a series master (= edit the series) or one occurrence."""
        return event_json(self.mailbox(email).patch_event(event_id, patch), "UTC")

    def move_event(
        self, email: str, event_id: str, start: datetime, end: datetime, time_zone: str = "UTC"
    ) -> dict[str, Any]:
        return self.edit_event(
            email, event_id, {"start": _dtz(start, time_zone), "end": _dtz(end, time_zone)}
        )

    def delete_event(self, email: str, event_id: str) -> None:
        self.mailbox(email).delete_event(event_id)

    def occurrence_id(self, email: str, series_id: str, original_start: datetime) -> str:
        """The instance id of the occurrence of ``series_id`` originally at that start."""
        box = self.mailbox(email)
        master = box.resolve(series_id)
        if isinstance(master, Instance) or master.recurrence is None:
            raise ValueError("not a series master")
        found = box.instances(
            master, original_start, original_start.replace(year=original_start.year + 1)
        )
        for inst in found:
            if inst.original_start == original_start:
                return inst.id
        raise KeyError(f"no occurrence at {original_start.isoformat()}")

    def cancel_occurrence(self, email: str, series_id: str, original_start: datetime) -> str:
        occ = self.occurrence_id(email, series_id, original_start)
        self.mailbox(email).delete_event(occ)
        return occ

    def move_occurrence(
        self,
        email: str,
        series_id: str,
        original_start: datetime,
        start: datetime,
        end: datetime,
        time_zone: str = "UTC",
    ) -> dict[str, Any]:
        occ = self.occurrence_id(email, series_id, original_start)
        return self.move_event(email, occ, start, end, time_zone)
