"""Field kinds of Nexudus records: parsing input values with exact error messages,
and writing values out."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spacecal import jsontext
from spacecal.records.errors import ApiError, iso


class Kind(enum.Enum):
    INT = "integer"
    STR = "string"
    BOOL = "boolean"
    DATETIME = "date-time"
    UUID = "uuid"
    JSON = "object"


class Owner(enum.Enum):
    """Who may change a field through the API (full administrators always may)."""

    CLIENT = "client"  # anyone holding the record's Create/Edit role
    # Written by spacecal (provider ids, expiries); others may only repeat the stored
    # value (a GET-then-PUT round trip) or leave it out (kept).
    PROVIDER = "provider"
    # A cursor others may only clear (null: a full resync) or repeat.
    RESET_ONLY = "reset_only"


class ParseError(ValueError):
    """A value that cannot be read as its field's kind; `str()` is the message."""


MAX_INT = 2**63 - 1
_INT_TEXT = re.compile(r"-?[0-9]+")  # ASCII digits only: "²" or "--1" are not numbers


def parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ParseError("must be a whole number")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str) and _INT_TEXT.fullmatch(value.strip()):
        result = int(value.strip())
    else:
        raise ParseError("must be a whole number")
    if not -MAX_INT <= result <= MAX_INT:
        raise ParseError("is out of range")
    return result


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "on", "yes"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "off", "no", ""}:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ParseError("must be true or false")


def parse_datetime(value: Any) -> datetime:
    """ISO 8601; a time without an offset is UTC (Nexudus times are UTC)."""
    if not isinstance(value, str) or not value.strip():
        raise ParseError("must be a date and time in ISO 8601, e.g. 2025-01-15T10:30:00Z")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError:
        raise ParseError("must be a date and time in ISO 8601, e.g. 2025-01-15T10:30:00Z") from None
    except OverflowError:  # e.g. 9999-12-31T23:59-01:00 is past year 9999 in UTC
        raise ParseError("is out of range") from None


def parse_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ParseError("must be a UUID") from None


def parse_json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except (ValueError, RecursionError):
            raise ParseError("must be a JSON object") from None
    if not isinstance(value, dict):
        raise ParseError("must be a JSON object")
    return value


@dataclass(frozen=True)
class Field:
    """One field of a record as the API shows it.

    `column` is the table column; `None` means the field is computed (read-only).
    `reference` names the record an `...Id` field points at (filters drop the `Id`).
    `secret` marks a write-only field (e.g. a WebHook's Secret).
    """

    name: str
    kind: Kind
    column: str | None = None
    required: bool = False
    nullable: bool = True
    read_only: bool = False
    max_length: int | None = None
    reference: str | None = None
    validate: Callable[[Any], Any] | None = None
    description: str = ""
    # Write-only: accepted on create/update, stored encrypted with the database's
    # TokenCipher, never shown, searched or sorted on (api/body.py, seal_secrets).
    secret: bool = False
    # Who may change it (records/ownership.py applies it on create and update).
    owner: Owner = Owner.CLIENT

    def parse(self, raw: Any) -> Any:
        """The value to store, or a FieldError-raising ParseError."""
        if raw is None or (isinstance(raw, str) and raw == "" and self.kind is not Kind.STR):
            if not self.nullable:
                raise ParseError("is a required field")
            return None
        value: Any
        if self.kind is Kind.INT:
            value = parse_int(raw)
        elif self.kind is Kind.BOOL:
            value = parse_bool(raw)
        elif self.kind is Kind.DATETIME:
            value = parse_datetime(raw)
        elif self.kind is Kind.UUID:
            value = parse_uuid(raw)
        elif self.kind is Kind.JSON:
            value = parse_json_object(raw)
        else:
            if not isinstance(raw, str | int | float) or isinstance(raw, bool):
                raise ParseError("must be text")
            value = str(raw)
            if "\x00" in value:
                raise ParseError("must not contain NUL characters")
            if self.max_length is not None and len(value) > self.max_length:
                raise ParseError(f"must be at most {self.max_length} characters")
            if not self.nullable and not value.strip():
                raise ParseError("is a required field")
        if self.validate is not None:
            value = self.validate(value)
        return value

    def dump(self, value: Any) -> Any:
        if value is None:
            return None
        if self.kind is Kind.DATETIME:
            return iso(value)
        if self.kind is Kind.UUID:
            return str(value)
        return value

    @property
    def filter_name(self) -> str:
        """`ResourceId` filters as `Resource`; every other field by its own name."""
        if self.reference and self.name.endswith("Id"):
            return self.name[:-2]
        return self.name


def parse_path_id(raw: str) -> int:
    """A record id from a URL path; the Nexudus field error for anything else."""
    try:
        value = parse_int(raw)
    except ParseError:
        raise ApiError.field("Id", "must be a whole number", raw) from None
    if value < 1:
        raise ApiError.field("Id", "must be 1 or more", raw)
    return value
