"""google-api-python-client and google-auth against the Google emulator, over real
HTTP: everything spacecal relies on, driven through the official libraries.

The client is built from the library's static discovery document with
`client_options={"api_endpoint": ...}` at the emulator; credentials are google-auth's
`Credentials` with only a refresh token, so the first call refreshes against the
emulator's token endpoint. Batches go to `/batch/calendar/v3` through
the library's `BatchHttpRequest(batch_uri=...)`: its default batch URI ignores
`api_endpoint`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import google.auth.transport.requests
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest
from tests.emulators.google.helpers import FULL, Receiver
from tests.emulators.official.conftest import START, Served

from spacecal.emulators.common import EmulatorClock
from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.google.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

EMAIL = "member@gmail.test"
HOOK = "http://spacecal.test/webhooks/google"
LONDON = "Europe/London"


def _start(rx: Receiver, url: str) -> GoogleEmulator:
    return GoogleEmulator(
        seed=3,
        base_url=url,
        push_client=rx.client(),
        clock=EmulatorClock(START, frozen=True),
        push_retry_base=0.001,
    )


@pytest.fixture(scope="module")
def rx() -> Receiver:
    return Receiver()


@pytest.fixture(scope="module")
def served(rx: Receiver) -> Iterator[Served[GoogleEmulator]]:
    server = Served(lambda url: _start(rx, url))
    yield server
    server.close()


@pytest.fixture(scope="module")
def creds(served: Served[GoogleEmulator]) -> Credentials:
    account = served.call(served.emu.create_account, EMAIL, scopes=["openid", "email", FULL])
    return Credentials(
        token=None,
        refresh_token=account["refresh_token"],
        token_uri=f"{served.url}/token",
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        scopes=[FULL],
    )


@pytest.fixture(scope="module")
def calendar(served: Served[GoogleEmulator], creds: Credentials) -> Resource:
    return build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{served.url}/calendar/v3/"},
    )


def _at(days: int, hour: int = 10) -> dict[str, str]:
    moment = (START + timedelta(days=days)).replace(hour=hour)
    return {"dateTime": moment.isoformat(), "timeZone": LONDON}


def _new_calendar(calendar: Resource, summary: str) -> str:
    made = calendar.calendars().insert(body={"summary": summary, "timeZone": LONDON}).execute()
    return str(made["id"])


def _pull(calendar: Resource, cal: str, **params: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Every page through the library's list_next: (items, nextSyncToken, pages)."""
    events = calendar.events()
    request = events.list(calendarId=cal, **params)
    items: list[dict[str, Any]] = []
    pages = 0
    while request is not None:
        page = request.execute()
        pages += 1
        items.extend(page["items"])
        if "nextSyncToken" in page:
            token = str(page["nextSyncToken"])
        request = events.list_next(request, page)
    return items, token, pages


def test_google_auth_refreshes_against_the_emulator(
    served: Served[GoogleEmulator], creds: Credentials
) -> None:
    fresh = Credentials(
        token=None,
        refresh_token=creds.refresh_token,
        token_uri=creds.token_uri,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    fresh.refresh(google.auth.transport.requests.Request())
    assert fresh.token and fresh.valid and fresh.expiry is not None
    dead = Credentials(
        token=None,
        refresh_token="not-a-refresh-token",
        token_uri=creds.token_uri,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
    )
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        dead.refresh(google.auth.transport.requests.Request())


def test_calendars_and_primary(calendar: Resource) -> None:
    cal = _new_calendar(calendar, "Room A")
    assert calendar.calendars().get(calendarId=cal).execute()["summary"] == "Room A"
    patched = calendar.calendars().patch(calendarId=cal, body={"summary": "Room A1"}).execute()
    assert patched["summary"] == "Room A1"
    assert calendar.calendars().get(calendarId="primary").execute()["id"] == EMAIL
    listed = calendar.calendarList().list().execute()["items"]
    assert {EMAIL, cal} <= {c["id"] for c in listed}
    calendar.calendars().delete(calendarId=cal).execute()
    with pytest.raises(HttpError) as gone:
        calendar.calendars().get(calendarId=cal).execute()
    assert gone.value.status_code == 404


def test_client_chosen_ids_409_on_repeat_and_paging_with_sync_tokens(
    served: Served[GoogleEmulator], calendar: Resource
) -> None:
    cal = _new_calendar(calendar, "Room B")
    events = calendar.events()
    for i in range(5):
        body = {"id": f"spacecal0booking{i}", "start": _at(i + 1), "end": _at(i + 1, 11)}
        assert events.insert(calendarId=cal, body=body).execute()["id"] == body["id"]
    with pytest.raises(HttpError) as repeat:
        events.insert(
            calendarId=cal, body={"id": "spacecal0booking0", "start": _at(9), "end": _at(9, 11)}
        ).execute()
    assert repeat.value.status_code == 409
    assert repeat.value.error_details[0]["reason"] == "duplicate"
    items, token, pages = _pull(calendar, cal, maxResults=2, singleEvents=True, showDeleted=True)
    assert pages == 3 and len(items) == 5
    events.patch(calendarId=cal, eventId="spacecal0booking1", body={"summary": "moved"}).execute()
    events.delete(calendarId=cal, eventId="spacecal0booking2").execute()
    changed, token, _ = _pull(calendar, cal, syncToken=token, singleEvents=True, showDeleted=True)
    assert {i["id"]: i["status"] for i in changed} == {
        "spacecal0booking1": "confirmed",
        "spacecal0booking2": "cancelled",
    }
    # An expired token: 410, which the library raises as HttpError with the status.
    served.call(served.emu.expire_sync_tokens, cal)
    with pytest.raises(HttpError) as expired:
        _pull(calendar, cal, syncToken=token, singleEvents=True, showDeleted=True)
    assert expired.value.status_code == 410
    assert expired.value.error_details[0]["reason"] == "fullSyncRequired"


def test_recurring_series_with_instance_edits(calendar: Resource) -> None:
    cal = _new_calendar(calendar, "Room C")
    events = calendar.events()
    series = events.insert(
        calendarId=cal,
        body={"start": _at(1), "end": _at(1, 11), "recurrence": ["RRULE:FREQ=DAILY;COUNT=4"]},
    ).execute()
    instances = events.instances(calendarId=cal, eventId=series["id"]).execute()["items"]
    assert len(instances) == 4
    second, third = instances[1], instances[2]
    events.patch(
        calendarId=cal,
        eventId=second["id"],
        body={"start": _at(2, 14), "end": _at(2, 15)},
    ).execute()
    events.delete(calendarId=cal, eventId=third["id"]).execute()
    items, _, _ = _pull(calendar, cal, singleEvents=True, showDeleted=True)
    by_id = {i["id"]: i for i in items}
    assert by_id[second["id"]]["start"]["dateTime"].startswith(
        (START + timedelta(days=2)).strftime("%Y-%m-%dT14:00")
    )
    assert by_id[second["id"]]["originalStartTime"] == second["originalStartTime"]
    assert by_id[third["id"]]["status"] == "cancelled"
    left = events.instances(calendarId=cal, eventId=series["id"]).execute()["items"]
    assert [i["id"] for i in left] == [instances[0]["id"], second["id"], instances[3]["id"]]


def test_watch_and_channels_stop(
    served: Served[GoogleEmulator], rx: Receiver, calendar: Resource
) -> None:
    cal = _new_calendar(calendar, "Room D")
    channel = (
        calendar.events()
        .watch(
            calendarId=cal,
            body={"id": "spacecal-channel-1", "type": "web_hook", "address": HOOK, "token": "t"},
        )
        .execute()
    )
    assert channel["id"] == "spacecal-channel-1" and channel["resourceId"]
    calendar.events().insert(calendarId=cal, body={"start": _at(3), "end": _at(3, 11)}).execute()
    served.call(served.emu.drain)
    states = [
        h["x-goog-resource-state"] for h in rx.received if h["x-goog-channel-id"] == channel["id"]
    ]
    assert states == ["sync", "exists"]
    calendar.channels().stop(
        body={"id": channel["id"], "resourceId": channel["resourceId"]}
    ).execute()
    with pytest.raises(HttpError) as again:
        calendar.channels().stop(
            body={"id": channel["id"], "resourceId": channel["resourceId"]}
        ).execute()
    assert again.value.status_code == 404


def test_a_batch_of_event_writes_each_counted_against_the_users_rate(
    served: Served[GoogleEmulator], calendar: Resource
) -> None:
    cal = _new_calendar(calendar, "Batch")
    answers: dict[str, Any] = {}
    failures: dict[str, HttpError] = {}

    def collect(request_id: str, response: Any, exception: Exception | None) -> None:
        if isinstance(exception, HttpError):
            failures[request_id] = exception
        else:
            answers[request_id] = response

    batch = BatchHttpRequest(callback=collect, batch_uri=f"{served.url}/batch/calendar/v3")
    for n in range(5):
        body = {"summary": f"Block {n}", "start": _at(n + 1), "end": _at(n + 1, 11)}
        batch.add(calendar.events().insert(calendarId=cal, body=body), request_id=f"w{n}")
    batch.add(calendar.events().get(calendarId=cal, eventId="missing"), request_id="gone")
    before = len(served.call(lambda: served.emu.core.calls.list(path_prefix="/calendar/v3/")))
    batch.execute()
    assert sorted(answers) == [f"w{n}" for n in range(5)]
    assert {a["summary"] for a in answers.values()} == {f"Block {n}" for n in range(5)}
    assert failures["gone"].resp.status == 404  # one call's failure is its own
    # Six inner calls, six calls in the log (and against the quota).
    calls = served.call(lambda: served.emu.core.calls.list(path_prefix="/calendar/v3/"))
    assert len(calls) - before == 6
    items, _, _ = _pull(calendar, cal)
    assert len(items) == 5

    # With the per-user rate on, a batch cannot exceed it: the calls past it answer 403.
    def rate(limit: int | None) -> None:
        served.emu.limits.reset()
        served.emu.limits.settings.requests_per_minute = limit

    served.call(rate, 3)
    try:
        answers.clear()
        failures.clear()
        batch = BatchHttpRequest(callback=collect, batch_uri=f"{served.url}/batch/calendar/v3")
        for n in range(5):
            batch.add(calendar.events().get(calendarId=cal, eventId=items[n]["id"]))
        batch.execute()
        assert len(answers) == 3
        assert [f.resp.status for f in failures.values()] == [403, 403]
        assert all("userRateLimitExceeded" in str(f.content) for f in failures.values())
    finally:
        served.call(rate, None)
