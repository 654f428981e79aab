"""The Nexudus error shape: the validation-error envelope and the error type that any
handler (or a record's write hook, or a field's parser) raises to produce one.

It lives with the record definitions, below web/, because record hooks and field
parsing raise it; web/envelopes.py holds the success envelope and the handlers that
turn every failure into this shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a `Z`, the way Nexudus writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FieldError:
    property_name: str | None
    message: str
    attempted_value: Any = None

    def as_json(self) -> dict[str, Any]:
        attempted = self.attempted_value
        if attempted is not None and not isinstance(attempted, str | int | float | bool):
            attempted = str(attempted)
        if isinstance(attempted, str) and len(attempted) > 200:
            attempted = attempted[:200] + "…"
        return {
            "AttemptedValue": attempted,
            "Message": self.message,
            "PropertyName": self.property_name,
        }


@dataclass
class ApiError(Exception):
    """Raise to answer with the Nexudus error envelope."""

    status: int
    message: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] | None = None
    # Fields beyond the Nexudus shape (documented in the OpenAPI ErrorEnvelope), e.g.
    # a refused booking's `Alternatives`.
    extra: dict[str, Any] | None = None

    @classmethod
    def validation(cls, *errors: FieldError) -> ApiError:
        first = errors[0]
        prefix = f"{first.property_name}: " if first.property_name else ""
        return cls(400, prefix + first.message, list(errors))

    @classmethod
    def field(cls, name: str | None, message: str, attempted: Any = None) -> ApiError:
        return cls.validation(FieldError(name, message, attempted))

    def response(self) -> JSONResponse:
        body = {
            "Status": self.status,
            "Message": self.message,
            "Value": None,
            "WasSuccessful": False,
            "Errors": [e.as_json() for e in self.errors] or None,
            **(self.extra or {}),
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)
