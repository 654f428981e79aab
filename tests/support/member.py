"""A member acting in their own calendar app, on either emulator, behind one face, so
one scenario suite runs once per provider. Reads go through the emulator's own state
(what the member would see), never through spacecal's provider clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.google import listing as google_listing
from spacecal.emulators.microsoft import MicrosoftEmulator
from spacecal.emulators.microsoft.render import event_json


@dataclass(frozen=True)
class Seen:
    """One event (or instance) as the member sees it."""

    id: str
    title: str
    description: str
    start: datetime
    end: datetime


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: str) -> datetime:
    text = value.replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Member(Protocol):
    provider: str
    email: str
    calendar_id: str

    def create(self, title: str, start: datetime, end: datetime) -> str: ...
    def move(self, event_id: str, start: datetime, end: datetime) -> None: ...
    def retitle(self, event_id: str, title: str) -> None: ...
    def delete(self, event_id: str) -> None: ...
    def series(self, title: str, start: datetime, end: datetime, days: int) -> str: ...
    def weekly(self, title: str, start: datetime, end: datetime, weeks: int) -> str: ...
    def move_instance(
        self, series_id: str, original: datetime, start: datetime, end: datetime
    ) -> None: ...
    def cancel_instance(self, series_id: str, original: datetime) -> None: ...
    def events(self) -> list[Seen]: ...


@dataclass
class GoogleMember:
    emu: GoogleEmulator
    email: str
    calendar_id: str
    provider: str = "google"

    def create(self, title: str, start: datetime, end: datetime) -> str:
        body = {
            "summary": title,
            "start": {"dateTime": _iso(start)},
            "end": {"dateTime": _iso(end)},
        }
        return str(self.emu.create_event(self.calendar_id, body)["id"])

    def move(self, event_id: str, start: datetime, end: datetime) -> None:
        self.emu.move_event(
            self.calendar_id, event_id, {"dateTime": _iso(start)}, {"dateTime": _iso(end)}
        )

    def retitle(self, event_id: str, title: str) -> None:
        self.emu.update_event(self.calendar_id, event_id, {"summary": title})

    def delete(self, event_id: str) -> None:
        self.emu.delete_event(self.calendar_id, event_id)

    def series(self, title: str, start: datetime, end: datetime, days: int) -> str:
        body = {
            "summary": title,
            "start": {"dateTime": _iso(start), "timeZone": "UTC"},
            "end": {"dateTime": _iso(end), "timeZone": "UTC"},
        }
        made = self.emu.create_recurring_event(
            self.calendar_id, body, f"RRULE:FREQ=DAILY;COUNT={days}"
        )
        return str(made["id"])

    def weekly(self, title: str, start: datetime, end: datetime, weeks: int) -> str:
        body = {
            "summary": title,
            "start": {"dateTime": _iso(start), "timeZone": "UTC"},
            "end": {"dateTime": _iso(end), "timeZone": "UTC"},
        }
        made = self.emu.create_recurring_event(
            self.calendar_id, body, f"RRULE:FREQ=WEEKLY;COUNT={weeks}"
        )
        return str(made["id"])

    def move_instance(
        self, series_id: str, original: datetime, start: datetime, end: datetime
    ) -> None:
        self.emu.move_instance(
            self.calendar_id,
            series_id,
            original,
            {"dateTime": _iso(start)},
            {"dateTime": _iso(end)},
        )

    def cancel_instance(self, series_id: str, original: datetime) -> None:
        self.emu.cancel_instance(self.calendar_id, series_id, original)

    def events(self) -> list[Seen]:
        cal = self.emu._calendar(self.calendar_id)
        page: dict[str, Any] = google_listing.list_events(
            self.emu.ctx,
            cal,
            [("singleEvents", "true"), ("maxResults", "2500")],
            account=self.email,
        )
        seen = []
        for item in page.get("items", []):
            if item.get("status") == "cancelled":
                continue
            seen.append(
                Seen(
                    item["id"],
                    item.get("summary", ""),
                    item.get("description", ""),
                    _parse(item["start"]["dateTime"]),
                    _parse(item["end"]["dateTime"]),
                )
            )
        return sorted(seen, key=lambda s: (s.start, s.id))


@dataclass
class MicrosoftMember:
    emu: MicrosoftEmulator
    email: str
    calendar_id: str
    provider: str = "microsoft"

    def create(self, title: str, start: datetime, end: datetime) -> str:
        return str(self.emu.create_event(self.email, self.calendar_id, title, start, end)["id"])

    def move(self, event_id: str, start: datetime, end: datetime) -> None:
        self.emu.move_event(self.email, event_id, start, end)

    def retitle(self, event_id: str, title: str) -> None:
        self.emu.edit_event(self.email, event_id, {"subject": title})

    def delete(self, event_id: str) -> None:
        self.emu.delete_event(self.email, event_id)

    def series(self, title: str, start: datetime, end: datetime, days: int) -> str:
        recurrence = {
            "pattern": {"type": "daily", "interval": 1},
            "range": {
                "type": "numbered",
                "startDate": start.date().isoformat(),
                "numberOfOccurrences": days,
            },
        }
        made = self.emu.create_event(
            self.email, self.calendar_id, title, start, end, recurrence=recurrence
        )
        return str(made["id"])

    def weekly(self, title: str, start: datetime, end: datetime, weeks: int) -> str:
        recurrence = {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": [start.astimezone(UTC).strftime("%A").lower()],
            },
            "range": {
                "type": "numbered",
                "startDate": start.date().isoformat(),
                "numberOfOccurrences": weeks,
            },
        }
        made = self.emu.create_event(
            self.email, self.calendar_id, title, start, end, recurrence=recurrence
        )
        return str(made["id"])

    def move_instance(
        self, series_id: str, original: datetime, start: datetime, end: datetime
    ) -> None:
        self.emu.move_occurrence(self.email, series_id, original, start, end)

    def cancel_instance(self, series_id: str, original: datetime) -> None:
        self.emu.cancel_occurrence(self.email, series_id, original)

    def events(self) -> list[Seen]:
        box = self.emu.mailbox(self.email)
        now = self.emu.clock.now()
        seen = []
        for inst in box.calendar_view(
            self.calendar_id, now - timedelta(days=7), now + timedelta(days=400)
        ):
            item = event_json(inst, "UTC")
            body = item.get("body", {}).get("content", "")
            seen.append(
                Seen(
                    item["id"],
                    item.get("subject", ""),
                    body,
                    _parse(item["start"]["dateTime"]),
                    _parse(item["end"]["dateTime"]),
                )
            )
        return sorted(seen, key=lambda s: (s.start, s.id))
