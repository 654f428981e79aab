"""One member's mailbox: calendars and events, with every write rule Graph applies.

Rules chosen where Graph is loose or undocumented:

* ``transactionId``: a second POST with an id already used in the mailbox answers the
  existing event (201, same id) instead of creating another. The map survives the
  event's deletion only while the event exists; after a delete the id is free again.
* Every write gives the event a new ``changeKey`` and ``lastModifiedDateTime``.
* A series keeps exceptions (``Override``) and cancelled occurrences by original start.
  PATCHing an occurrence id turns it into an exception; DELETE (or ``/cancel``) on an
  occurrence id cancels that occurrence (it disappears from views). PATCHing the
  master's ``start``, ``end``, ``isAllDay`` or ``recurrence`` drops all exceptions and
  cancellations (Outlook re-generates the series); other master edits keep them and
  apply to unchanged fields of the exceptions.
* A calendar name must be unique in the mailbox (409 ``ErrorFolderExists``); the
  default calendar cannot be deleted (400).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from .clocklike import ClockLike
from .errors import GraphError, bad_request, not_found
from .ids import IdFactory, occurrence_id
from .model import PASSTHROUGH_FIELDS, Calendar, Event, Instance, Override
from .recurrence import RecurrenceError, occurrence_starts, validate
from .timezones import UnknownTimeZone, parse_date_time_time_zone, resolve_zone

# (calendar_id, resource id, changeType) after each committed write.
ChangeListener = Callable[[str, str, str], None]

_SHOW_AS = {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"}


class Mailbox:
    def __init__(self, user_id: str, ids: IdFactory, clock: ClockLike) -> None:
        self.user_id = user_id
        self._ids = ids
        self._clock = clock
        self.seq = 0
        self.calendars: dict[str, Calendar] = {}
        self.events: dict[str, Event] = {}
        self.deleted: dict[str, tuple[int, str]] = {}  # event id -> (seq, calendar id)
        self._transactions: dict[str, str] = {}
        self._occurrences: dict[str, tuple[str, datetime]] = {}
        self.listeners: list[ChangeListener] = []
        default = Calendar(self._ids.calendar_id(), "Calendar", ids.change_key(), True)
        self.calendars[default.id] = default

    # -- helpers -------------------------------------------------------------------------
    @property
    def default_calendar(self) -> Calendar:
        return next(c for c in self.calendars.values() if c.is_default)

    def _emit(self, calendar_id: str, resource_id: str, change: str) -> None:
        for listener in list(self.listeners):
            listener(calendar_id, resource_id, change)

    def _bump(self) -> int:
        self.seq += 1
        return self.seq

    def calendar(self, calendar_id: str) -> Calendar:
        cal = self.calendars.get(calendar_id)
        if cal is None:
            raise not_found()
        return cal

    # -- calendars -------------------------------------------------------------------------
    def create_calendar(self, name: str, color: str = "auto") -> Calendar:
        if not name.strip():
            raise bad_request("The name of a calendar cannot be empty.")
        self._unique_name(name)
        cal = Calendar(self._ids.calendar_id(), name, self._ids.change_key(), color=color)
        self.calendars[cal.id] = cal
        return cal

    def _unique_name(self, name: str, skip: str | None = None) -> None:
        for cal in self.calendars.values():
            if cal.id != skip and cal.name.lower() == name.strip().lower():
                raise GraphError(
                    409, "ErrorFolderExists", "A folder with the specified name already exists."
                )

    def patch_calendar(self, calendar_id: str, payload: dict[str, Any]) -> Calendar:
        cal = self.calendar(calendar_id)
        if "name" in payload:
            name = payload["name"]
            if not isinstance(name, str) or not name.strip():
                raise bad_request("The name of a calendar cannot be empty.")
            self._unique_name(name, skip=cal.id)
            cal.name = name
        if isinstance(payload.get("color"), str):
            cal.color = payload["color"]
        cal.change_key = self._ids.change_key()
        return cal

    def delete_calendar(self, calendar_id: str) -> None:
        cal = self.calendar(calendar_id)
        if cal.is_default:
            raise bad_request("The default calendar cannot be deleted.", "ErrorCannotDeleteObject")
        for event in [e for e in self.events.values() if e.calendar_id == cal.id]:
            self.events.pop(event.id)
            self.deleted[event.id] = (self._bump(), cal.id)
            if event.transaction_id:
                self._transactions.pop(event.transaction_id, None)
        del self.calendars[cal.id]

    # -- event parsing ---------------------------------------------------------------------
    def _times(
        self, payload: dict[str, Any], base: Event | None
    ) -> tuple[datetime, datetime, str, str, bool]:
        try:
            start = parse_date_time_time_zone(payload["start"]) if "start" in payload else None
            end = parse_date_time_time_zone(payload["end"]) if "end" in payload else None
        except UnknownTimeZone as exc:
            raise bad_request(
                f"A valid TimeZone value must be specified. The following TimeZone value is "
                f"not supported: '{exc.args[0]}'.",
                "TimeZoneNotSupportedException",
            ) from exc
        except (ValueError, TypeError) as exc:
            raise bad_request(f"Invalid dateTimeTimeZone: {exc}") from exc
        if base is None and (start is None or end is None):
            raise bad_request("Start and End are required.", "ErrorPropertyValidationFailure")
        start_zone = str(payload.get("start", {}).get("timeZone") or "UTC") if start else ""
        end_zone = str(payload.get("end", {}).get("timeZone") or "UTC") if end else ""
        start = start or (base.start if base else None)
        end = end or (base.end if base else None)
        assert start is not None and end is not None
        start_zone = start_zone or (base.start_zone if base else "UTC")
        end_zone = end_zone or (base.end_zone if base else "UTC")
        all_day = bool(payload.get("isAllDay", base.is_all_day if base else False))
        if end < start:
            raise bad_request("The end time must be after the start time.")
        if all_day:
            for moment, zone in ((start, start_zone), (end, end_zone)):
                local = moment.astimezone(resolve_zone(zone))
                if (local.hour, local.minute, local.second) != (0, 0, 0):
                    raise bad_request(
                        "The start and end of an all-day event must be at midnight.",
                        "ErrorPropertyValidationFailure",
                    )
        return start, end, start_zone, end_zone, all_day

    @staticmethod
    def _extended(payload: dict[str, Any]) -> dict[str, str]:
        raw = payload.get("singleValueExtendedProperties")
        if raw is None:
            return {}
        if not isinstance(raw, list):
            raise bad_request("singleValueExtendedProperties must be an array.")
        out: dict[str, str] = {}
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise bad_request("Each extended property needs an id and a value.")
            out[item["id"]] = str(item.get("value", ""))
        return out

    @staticmethod
    def _show_as(payload: dict[str, Any], default: str) -> str:
        value = payload.get("showAs", default)
        if value not in _SHOW_AS:
            raise bad_request(f"Invalid showAs value {value!r}.")
        return str(value)

    @staticmethod
    def _body(payload: dict[str, Any], default: dict[str, str]) -> dict[str, str]:
        raw = payload.get("body")
        if raw is None:
            return default
        if not isinstance(raw, dict):
            raise bad_request("body must be an itemBody object.")
        return {
            "contentType": str(raw.get("contentType", "text")),
            "content": str(raw.get("content", "")),
        }

    # -- events ---------------------------------------------------------------------------
    def create_event(self, calendar_id: str, payload: dict[str, Any]) -> tuple[Event, bool]:
        """Create (or, for a known ``transactionId``, return) an event; ``True`` if new."""
        cal = self.calendar(calendar_id)
        txn = payload.get("transactionId")
        if isinstance(txn, str) and txn in self._transactions:
            existing = self.events.get(self._transactions[txn])
            if existing is not None:
                return existing, False
        start, end, start_zone, end_zone, all_day = self._times(payload, None)
        recurrence = self._recurrence(payload.get("recurrence"), start_zone)
        now = self._clock.now()
        event = Event(
            id=self._ids.event_id(),
            calendar_id=cal.id,
            subject=str(payload.get("subject") or ""),
            body=self._body(payload, {"contentType": "text", "content": ""}),
            start=start,
            end=end,
            start_zone=start_zone,
            end_zone=end_zone,
            is_all_day=all_day,
            show_as=self._show_as(payload, "busy"),
            change_key=self._ids.change_key(),
            created=now,
            last_modified=now,
            seq=self._bump(),
            transaction_id=txn if isinstance(txn, str) else None,
            recurrence=recurrence,
            extended=self._extended(payload),
            extra={k: payload[k] for k in PASSTHROUGH_FIELDS if k in payload},
        )
        self.events[event.id] = event
        if event.transaction_id:
            self._transactions[event.transaction_id] = event.id
        self._emit(cal.id, event.id, "created")
        return event, True

    @staticmethod
    def _recurrence(raw: object, zone: str) -> dict[str, Any] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise bad_request("recurrence must be a patternedRecurrence object.")
        try:
            validate(raw, zone)
        except RecurrenceError as exc:
            raise bad_request(str(exc), "ErrorPropertyValidationFailure") from exc
        return raw

    def resolve(self, item_id: str) -> Event | Instance:
        """An event by id, or an occurrence/exception by its instance id."""
        event = self.events.get(item_id)
        if event is not None:
            return event
        ref = self._occurrences.get(item_id)
        if ref is not None:
            master = self.events.get(ref[0])
            if master is not None and ref[1] not in master.cancelled:
                instance = self._instance(master, ref[1])
                if instance is not None:
                    return instance
        raise not_found()

    def patch_event(self, item_id: str, payload: dict[str, Any]) -> Event | Instance:
        target = self.resolve(item_id)
        if isinstance(target, Instance):
            return self._patch_occurrence(target, payload)
        event = target
        start, end, start_zone, end_zone, all_day = self._times(payload, event)
        reshaped = (
            "recurrence" in payload
            or start != event.start
            or end != event.end
            or all_day != event.is_all_day
        )
        if "recurrence" in payload:
            event.recurrence = self._recurrence(payload["recurrence"], start_zone)
        elif event.recurrence is not None:
            self._recurrence(event.recurrence, start_zone)
        event.start, event.end, event.start_zone, event.end_zone = start, end, start_zone, end_zone
        event.is_all_day = all_day
        if "subject" in payload:
            event.subject = str(payload["subject"] or "")
        event.body = self._body(payload, event.body)
        event.show_as = self._show_as(payload, event.show_as)
        if "singleValueExtendedProperties" in payload:
            # Upsert by id (ids compare case-insensitively); Graph has no delete here.
            for pid, value in self._extended(payload).items():
                for known in [k for k in event.extended if k.lower() == pid.lower()]:
                    del event.extended[known]
                event.extended[pid] = value
        event.extra.update({k: payload[k] for k in PASSTHROUGH_FIELDS if k in payload})
        if reshaped and event.recurrence is not None:
            event.overrides.clear()
            event.cancelled.clear()
        now = self._clock.now()
        for override in event.overrides.values():
            # A series edit reaches the exceptions too (their unchanged fields follow).
            override.change_key = self._ids.change_key()
            override.last_modified = now
        self._touch(event)
        self._emit(event.calendar_id, event.id, "updated")
        return event

    def _touch(self, event: Event) -> None:
        event.seq = self._bump()
        event.change_key = self._ids.change_key()
        event.last_modified = self._clock.now()

    def _patch_occurrence(self, inst: Instance, payload: dict[str, Any]) -> Instance:
        if "recurrence" in payload:
            raise bad_request("An occurrence cannot have its own recurrence.")
        master = inst.event
        assert inst.original_start is not None
        fake = Event(**{**master.__dict__, "start": inst.start, "end": inst.end})
        start, end, _, _, _ = self._times(payload, fake)
        now = self._clock.now()
        override = master.overrides.get(inst.original_start)
        fields = dict(override.fields) if override else {}
        for key in ("subject", "body", "showAs", *PASSTHROUGH_FIELDS):
            if key in payload:
                fields[key] = payload[key]
        master.overrides[inst.original_start] = Override(
            fields=fields,
            start=start,
            end=end,
            change_key=self._ids.change_key(),
            created=override.created if override else now,
            last_modified=now,
        )
        master.seq = self._bump()
        self._emit(master.calendar_id, inst.id, "updated")
        result = self._instance(master, inst.original_start)
        assert result is not None
        return result

    def delete_event(self, item_id: str) -> None:
        target = self.resolve(item_id)
        if isinstance(target, Instance):
            master = target.event
            assert target.original_start is not None
            master.overrides.pop(target.original_start, None)
            master.cancelled.add(target.original_start)
            master.seq = self._bump()
            self._emit(master.calendar_id, target.id, "deleted")
            return
        self.events.pop(target.id)
        if target.transaction_id:
            self._transactions.pop(target.transaction_id, None)
        self.deleted[target.id] = (self._bump(), target.calendar_id)
        self._emit(target.calendar_id, target.id, "deleted")

    # -- views -------------------------------------------------------------------------------
    def _instance(self, master: Event, original: datetime) -> Instance | None:
        if original in master.cancelled:
            return None
        inst_id = occurrence_id(master.id, original.isoformat())
        self._occurrences[inst_id] = (master.id, original)
        override = master.overrides.get(original)
        if override is not None:
            return Instance(
                inst_id, master, "exception", override.start, override.end, original, override
            )
        return Instance(
            inst_id, master, "occurrence", original, original + master.duration, original, None
        )

    def instances(self, event: Event, start: datetime, end: datetime) -> list[Instance]:
        """Everything of ``event`` that overlaps [start, end), as a calendar view shows it."""
        if event.recurrence is None:
            if _overlaps(event.start, event.end, start, end):
                return [
                    Instance(event.id, event, "singleInstance", event.start, event.end, None, None)
                ]
            return []
        found: dict[datetime, Instance] = {}
        horizon = end + timedelta(days=1)
        try:
            starts = list(
                occurrence_starts(event.recurrence, event.start, event.start_zone, horizon)
            )
        except RecurrenceError:
            starts = []
        for original in starts:
            inst = self._instance(event, original)
            if inst is not None and _overlaps(inst.start, inst.end, start, end):
                found[original] = inst
        # Exceptions moved into the window from an original start outside it.
        for original, override in event.overrides.items():
            if original not in found and _overlaps(override.start, override.end, start, end):
                inst = self._instance(event, original)
                if inst is not None:
                    found[original] = inst
        return [found[k] for k in sorted(found)]

    def calendar_view(self, calendar_id: str, start: datetime, end: datetime) -> list[Instance]:
        self.calendar(calendar_id)
        out: list[Instance] = []
        for event in self.events.values():
            if event.calendar_id == calendar_id:
                out.extend(self.instances(event, start, end))
        out.sort(key=lambda i: (i.start, i.id))
        return out

    def events_in(self, calendar_id: str) -> list[Event]:
        self.calendar(calendar_id)
        items = [e for e in self.events.values() if e.calendar_id == calendar_id]
        return sorted(items, key=lambda e: (e.created, e.id))


def _overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> bool:
    """Calendar-view overlap; a zero-length event at the window start still counts."""
    if a_start == a_end:
        return b_start <= a_start < b_end
    return a_start < b_end and a_end > b_start


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
