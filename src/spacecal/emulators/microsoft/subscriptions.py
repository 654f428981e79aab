"""Subscription rules: resource parsing, lifetimes, duplicates and the validation handshake.

Rules chosen (from providers.md and the Graph docs):

* Resource: ``me/calendars/{id}/events`` (also ``/me/calendars('{id}')/events``,
  ``users/{user id or email}/calendars/{id}/events``, and ``me/events`` for the
  default calendar). Anything else answers 400; an unknown calendar 404.
* ``changeType``: a comma list of ``created``, ``updated``, ``deleted``.
* ``expirationDateTime``: ISO 8601 with an offset and any number of fractional
  digits (the examples of Graph's "Create subscription" reference write 7,
  ``…39.7918070Z``; msgraph-sdk writes Python's 6, ``…46.783086+00:00``); in the
  past → 400; under 45 minutes from now → raised to 45 minutes (``minimum_lifetime``); over
  ``maximum_lifetime`` (10,080 minutes, settable) → 400 "Subscription expiration can
  only be 10080 minutes in the future.".
  The granted value is in the answer: clients must store what is returned.
* A second subscription of the same app on the same calendar with the same
  changeType set → 409. At most 1,000 live subscriptions per mailbox → 403.
* Validation: before answering, the emulator POSTs ``?validationToken=<token>``
  (``text/plain``, empty body) to ``notificationUrl`` and then to
  ``lifecycleNotificationUrl``; each must answer 200 with the DECODED token as the
  exact body within ``validation_timeout`` (10 s). The token contains spaces and
  colons, so echoing the URL-encoded form fails. Failure → 400 ``ValidationError``
  with Graph's message. ``http://`` URLs are accepted (Graph requires https; the
  emulator serves local tests and the demo).
* Expired subscriptions disappear (lazily, on the emulator clock).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx2

from spacecal.emulators.common import DeliveryLog

from .errors import GraphError, bad_request
from .timezones import format_utc

CHANGE_TYPES = ("created", "updated", "deleted")
MAX_PER_MAILBOX = 1000

_RESOURCE_RES = (
    re.compile(r"^/?me/calendars(?:/|\(')(?P<cal>[^/')]+)(?:'\))?/events/?$", re.IGNORECASE),
    re.compile(
        r"^/?users(?:/|\(')(?P<user>[^/')]+)(?:'\))?/calendars(?:/|\(')(?P<cal>[^/')]+)(?:'\))?"
        r"/events/?$",
        re.IGNORECASE,
    ),
    re.compile(r"^/?(?:me|users(?:/|\(')(?P<user>[^/')]+)(?:'\))?)/events/?$", re.IGNORECASE),
)


@dataclass
class Subscription:
    id: str
    user_id: str
    account_email: str
    client_id: str
    resource: str
    calendar_id: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    tenant_id: str
    needs_reauthorization: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.subscription",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.client_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": format_utc(self.expiration),
            "creatorId": self.user_id,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "includeResourceData": False,
            "notificationContentType": None,
        }


def parse_resource(resource: str) -> tuple[str | None, str | None]:
    """``(user id-or-email or None for me, calendar id or None for default)``."""
    for pattern in _RESOURCE_RES:
        match = pattern.match(resource.strip())
        if match:
            groups = match.groupdict()
            return groups.get("user"), groups.get("cal")
    raise bad_request(
        f"Resource '{resource}' is not supported by this emulator: use me/calendars/{{id}}/events.",
        "InvalidRequest",
    )


def parse_change_types(raw: object) -> list[str]:
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("changeType is required.", "InvalidRequest")
    items = [p.strip() for p in raw.split(",") if p.strip()]
    for item in items:
        if item not in CHANGE_TYPES:
            raise bad_request(f"'{item}' is not a valid changeType.", "InvalidRequest")
    return list(dict.fromkeys(items))


_FRACTION = re.compile(r"\.(\d+)")


def _parse_instant(raw: str) -> datetime:
    """An ISO 8601 instant with any number of fractional digits: Graph's own examples
    write 7 (``…39.7918070Z``), msgraph-sdk writes Python's 6 (``…46.783086+00:00``).
    Digits past the microsecond are dropped."""
    text = raw.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    return datetime.fromisoformat(text)


def grant_expiration(
    raw: object, now: datetime, minimum: timedelta, maximum: timedelta
) -> datetime:
    """The expiration the service grants for a requested ``expirationDateTime``."""
    if not isinstance(raw, str):
        raise bad_request("expirationDateTime is required.", "InvalidRequest")
    try:
        wanted = _parse_instant(raw)
    except ValueError as exc:
        raise bad_request("expirationDateTime is not a valid date.", "InvalidRequest") from exc
    if wanted.tzinfo is None:
        raise bad_request("expirationDateTime needs a time zone offset.", "InvalidRequest")
    if wanted <= now:
        raise bad_request("Subscription expiration can only be in the future.", "InvalidRequest")
    if wanted - now > maximum:
        minutes = int(maximum.total_seconds() // 60)
        raise bad_request(
            f"Subscription expiration can only be {minutes} minutes in the future.",
            "InvalidRequest",
        )
    return max(wanted, now + minimum)


def validation_token(request_id: str) -> str:
    """A token that URL-encoding changes (spaces, colon), like the real service's."""
    return (
        "Validation: Testing client application reachability for subscription Request-Id: "
        + request_id
    )


async def validate_url(
    client: httpx2.AsyncClient,
    url: str,
    token: str,
    budget: float,
    log: DeliveryLog,
    now: datetime,
    account: str,
) -> None:
    """Run the handshake against one URL; raise the 400 Graph answers when it fails."""
    sep = "&" if "?" in url else "?"
    target = f"{url}{sep}validationToken={quote(token, safe='')}"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    status: int | None = None
    error: str | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        response = await asyncio.wait_for(
            client.post(target, headers=headers, content=b"", timeout=budget), budget
        )
        status = response.status_code
        body = response.text
        content_type = response.headers.get("content-type", "")
    except (TimeoutError, httpx2.TimeoutException):
        error = "timeout"
    except Exception as exc:  # any transport failure is "endpoint not reachable"
        error = f"{type(exc).__name__}: {exc}"
    ok = (
        error is None
        and status == 200
        and body == token
        and content_type.lower().startswith("text/plain")
    )
    log.record(
        notification_id=0,
        time=now,
        address=target,
        headers=headers,
        body="",
        attempt=1,
        outcome="delivered" if ok else "failed",
        account=account,
        channel=None,
        status=status,
        latency_ms=(loop.time() - started) * 1000,
        error=error,
        extra={"kind": "validation"},
    )
    if ok:
        return
    if error == "timeout":
        raise GraphError(400, "ValidationError", "Subscription validation request timed out.")
    if status is not None and status != 200:
        phrase = (
            HTTPStatus(status).phrase.replace(" ", "")
            if status in HTTPStatus._value2member_map_
            else str(status)
        )
        raise GraphError(
            400,
            "ValidationError",
            f"Subscription validation request failed. HTTP status code is '{phrase}'. "
            "Notification endpoint must respond with 200 OK to validation request.",
        )
    if status == 200:
        raise GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Response must exactly match "
            "validationToken query parameter.",
        )
    raise GraphError(
        400,
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond with "
        "200 OK to validation request.",
    )
