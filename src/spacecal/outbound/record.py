"""The WebHook record (`/api/sys/webhooks`), declared like the other records.

`Secret` is write-only (records/fields.py `secret`): encrypted with the TokenCipher on
the way in, never in a response, error or log. LastTrigger, LastError and ErrorCount
are kept by the deliveries (delivery.py) and read-only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.db.models import WebHook, table_of
from spacecal.outbound.actions import ACTIONS
from spacecal.providers.guard import refusal
from spacecal.records.fields import Field, Kind, ParseError
from spacecal.records.spec import RecordSpec

_BY_FOLDED = {name.lower(): name for name in ACTIONS}


def parse_action(value: Any) -> str:
    """`BookingCreate`; Nexudus's display spelling `Booking Create` is accepted too."""
    folded = "".join(str(value).split()).lower()
    if folded not in _BY_FOLDED:
        raise ParseError(f"must be one of: {', '.join(ACTIONS)}")
    return _BY_FOLDED[folded]


def parse_url(value: Any, *, allow_private: bool = False) -> str:
    """A webhook URL, refused at write time when its host as written is internal
    (providers/guard.py; the connect-time check covers names that resolve there)."""
    text = str(value).strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ParseError("must not contain spaces or control characters")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ParseError("must be an http:// or https:// URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ParseError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ParseError("must not hold a user name or password; use Secret to sign instead")
    why = refusal(text, allow_private=allow_private)
    if why is not None:
        hint = ""
        if refusal(text, allow_private=True) is None:
            hint = " (receivers on the operator's own network need SPACECAL_ALLOW_PRIVATE_TARGETS)"
        raise ParseError(f"must point at a public address: {why}{hint}")
    return text


async def _before_write(
    conn: AsyncConnection, values: dict[str, Any], old: Mapping[str, Any] | None
) -> None:
    """Switching a webhook back on (or pointing it elsewhere) starts its count afresh."""
    if old is None:
        values["error_count"] = 0
        return
    if (values.get("active") and not old["active"]) or values.get("url") != old["url"]:
        values["error_count"] = 0


WEBHOOKS = RecordSpec(
    name="WebHook",
    path="webhooks",
    prefix="/api/sys",
    table=table_of(WebHook),
    fields=(
        Field("Name", Kind.STR, "name", required=True, nullable=False, max_length=200),
        Field(
            "Action",
            Kind.STR,
            "action",
            required=True,
            nullable=False,
            max_length=64,
            validate=parse_action,
            description="When it fires: " + "; ".join(f"{k}: {v}" for k, v in ACTIONS.items()),
        ),
        Field(
            "URL",
            Kind.STR,
            "url",
            required=True,
            nullable=False,
            max_length=2048,
            validate=parse_url,
            description="Where the JSON array holding the record is POSTed (http or https); "
            "a public address unless the operator set SPACECAL_ALLOW_PRIVATE_TARGETS.",
        ),
        Field(
            "Active",
            Kind.BOOL,
            "active",
            nullable=False,
            description="Only active webhooks fire; turned off after repeated failures.",
        ),
        Field(
            "Secret",
            Kind.STR,
            "secret_enc",
            max_length=400,
            secret=True,
            description="Signs each body (X-Nexudus-Hook-Signature). Write-only; a PUT "
            'without it keeps the stored one, "" removes it.',
        ),
        Field(
            "LastTrigger",
            Kind.DATETIME,
            "last_trigger",
            read_only=True,
            description="When a delivery last succeeded.",
        ),
        Field(
            "LastError",
            Kind.STR,
            "last_error",
            read_only=True,
            description="Why the last delivery failed, or why the webhook was turned off.",
        ),
        Field(
            "ErrorCount",
            Kind.INT,
            "error_count",
            read_only=True,
            description="Consecutive failed deliveries; a success resets it.",
        ),
    ),
    description="An outbound webhook: POSTs a JSON array holding one record when its "
    "Action happens, signed with its Secret.",
    before_write=_before_write,
)


def webhooks_spec(*, allow_private: bool) -> RecordSpec:
    """The WebHook record as an app with this SPACECAL_ALLOW_PRIVATE_TARGETS accepts it."""
    if not allow_private:
        return WEBHOOKS
    fields = tuple(
        replace(f, validate=partial(parse_url, allow_private=True)) if f.name == "URL" else f
        for f in WEBHOOKS.fields
    )
    return replace(WEBHOOKS, fields=fields)
