"""Many event creates of one account in one request: Google's `/batch/calendar/v3`
(multipart/mixed, at most 1000 calls; here `MAX_CALLS` per request).

A batch never saves quota: each inner call takes its own place in the account's
request budget first (providers/pacing.py), exactly as if sent alone. It never spans
accounts (one access token). Each call's answer is its own: a created event, or a
classified error for that event (a 409, "already there", is left to the caller's
single-event create, which reads or restores it).
"""

from __future__ import annotations

import json
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx2

from spacecal import metrics
from spacecal.providers.base import EventWrite, ProviderError, WrittenEvent
from spacecal.providers.gate import GATES
from spacecal.providers.google.wire import event_body, event_id_for
from spacecal.providers.http import classify
from spacecal.providers.pacing import take_place
from spacecal.providers.paths import calendar_segment

MAX_CALLS = 50


async def create_events(
    http: httpx2.AsyncClient,
    batch_url: str,
    api_path: str,
    access: str,
    calendar_id: str,
    events: list[EventWrite],
) -> list[WrittenEvent | ProviderError]:
    """Insert `events` (ids from their idempotency keys) in batches; one answer per
    event, in order. `api_path` is the Calendar API's path on the server
    (`/calendar/v3`)."""
    out: list[WrittenEvent | ProviderError] = []
    for first in range(0, len(events), MAX_CALLS):
        chunk = events[first : first + MAX_CALLS]
        out.extend(await _batch(http, batch_url, api_path, access, calendar_id, chunk))
    return out


async def _batch(
    http: httpx2.AsyncClient,
    batch_url: str,
    api_path: str,
    access: str,
    calendar_id: str,
    events: list[EventWrite],
) -> list[WrittenEvent | ProviderError]:
    boundary = f"spacecal_{uuid.uuid4().hex}"
    path = f"{api_path}/calendars/{calendar_segment(calendar_id)}/events"
    body = bytearray()
    for n, event in enumerate(events):
        await take_place()  # each inner call counts against the quota
        payload = json.dumps({"id": event_id_for(event.idempotency_key), **event_body(event)})
        body += (
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item+{n}>\r\n\r\n"
            f"POST {path}\r\nContent-Type: application/json\r\n\r\n{payload}\r\n"
        ).encode()
    body += f"--{boundary}--\r\n".encode()
    async with GATES.slot("google", access):
        response = await http.post(
            batch_url,
            content=bytes(body),
            headers={
                "Authorization": f"Bearer {access}",
                "Content-Type": f"multipart/mixed; boundary={boundary}",
            },
        )
    if not response.is_success:
        metrics.provider_error("google", response.status_code)
        error = classify(status=response.status_code, code=None, message="batch refused")
        return [error for _ in events]
    answers = _answers(response)
    out: list[WrittenEvent | ProviderError] = []
    for n in range(len(events)):
        status, data = answers.get(n, (0, {}))
        if 200 <= status < 300:
            out.append(WrittenEvent(event_id=str(data["id"]), etag=str(data["etag"])))
            continue
        found = data.get("error")
        detail: dict[str, Any] = found if isinstance(found, dict) else {}
        errors = detail.get("errors") or [{}]
        reason = errors[0].get("reason") if isinstance(errors[0], dict) else None
        metrics.provider_error("google", status)
        message = str(detail.get("message") or "no answer")
        out.append(classify(status=status, code=reason, message=message))
    return out


def _answers(response: httpx2.Response) -> dict[int, tuple[int, dict[str, object]]]:
    """Content-ID number → (status, JSON body) of each part."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {response.headers.get('content-type', '')}\r\n\r\n".encode()
        + response.content
    )
    found: dict[int, tuple[int, dict[str, object]]] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        content_id = str(part.get("Content-ID") or "").strip("<>")
        _, _, number = content_id.rpartition("+")
        raw = part.get_payload(decode=True)
        if not number.isdigit() or not isinstance(raw, bytes):
            continue
        head, _, rest = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        status_line = head.split(b"\n", 1)[0].split(b" ")
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        try:
            data = json.loads(rest) if rest.strip() else {}
        except ValueError:
            data = {}
        found[int(number)] = (status, data if isinstance(data, dict) else {})
    return found
