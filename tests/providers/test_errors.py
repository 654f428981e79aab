"""Error classification on real emulator answers: throttling with Retry-After, 5xx,
transport failures; and the pure helpers (Retry-After dates, HTML bodies, registry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest
from tests.providers.harness import NOW, WINDOW, Env

from spacecal.config import Settings
from spacecal.emulators.common import FaultKind
from spacecal.providers.base import Throttled, Transient
from spacecal.providers.google import GoogleProvider
from spacecal.providers.http import parse_retry_after
from spacecal.providers.microsoft import html_to_text
from spacecal.providers.registry import (
    build_provider,
    configured_providers,
    missing_settings_message,
)


async def test_429_is_throttled_with_retry_after(env: Env) -> None:
    env.emu.faults.add(FaultKind.HTTP_429, times=1, retry_after=7)
    with pytest.raises(Throttled) as caught:
        await env.provider.pull(env.access, env.calendar_id, None, WINDOW)
    assert caught.value.status == 429 and caught.value.retry_after == 7
    assert env.access not in str(caught.value)
    await env.provider.pull(env.access, env.calendar_id, None, WINDOW)  # next call fine


async def test_rate_limit_403_is_throttled(env: Env) -> None:
    env.emu.faults.add(FaultKind.HTTP_403_RATE_LIMIT, times=1, reason="userRateLimitExceeded")
    with pytest.raises(Throttled) as caught:
        await env.provider.list_calendars(env.access)
    if env.name == "google":
        assert caught.value.status == 403 and caught.value.code == "userRateLimitExceeded"
    else:
        assert caught.value.status == 429  # Graph has no 403 throttle


async def test_503_is_throttled_and_500_transient(env: Env) -> None:
    env.emu.faults.add(FaultKind.HTTP_5XX, times=1, status=503, retry_after=3)
    with pytest.raises(Throttled) as throttled:
        await env.provider.list_calendars(env.access)
    if env.name == "microsoft":
        assert throttled.value.retry_after == 3
    env.emu.faults.add(FaultKind.HTTP_5XX, times=1, status=500)
    with pytest.raises(Transient) as transient:
        await env.provider.create_calendar(env.access, "X", "UTC")
    assert transient.value.status == 500


async def test_throttled_refresh_is_throttled(env: Env) -> None:
    env.emu.faults.add(FaultKind.HTTP_429, times=1, path="*token", retry_after=2)
    with pytest.raises(Throttled) as caught:
        await env.provider.refresh(env.refresh)
    assert caught.value.retry_after == 2 and env.refresh not in str(caught.value)


async def test_transport_error_is_transient() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    settings = Settings(google_client_id="id", google_client_secret="secret")
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as client:
        provider = GoogleProvider(settings, client)
        with pytest.raises(Transient) as caught:
            await provider.list_calendars("ya29.secret-token")
    assert caught.value.status == 0 and "secret-token" not in str(caught.value)


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(" 1.5 ") == 1.5
    later = NOW + timedelta(seconds=90)
    assert parse_retry_after(format_datetime(later, usegmt=True), NOW) == 90
    assert parse_retry_after(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert (
        parse_retry_after(
            "Sat, 21 Nov 2026 12:00:00 GMT", datetime(2026, 11, 21, 11, 59, tzinfo=UTC)
        )
        == 60
    )


def test_html_bodies_become_plain_text() -> None:
    outlook = (
        '<html><head><meta charset="utf-8"><style>p {margin:0}</style></head>'
        '<body><div class="PlainText">[spacecal] Not booked: the room is taken.<br><br>'
        "Agenda &lt;draft&gt;&nbsp;v2</div></body></html>"
    )
    assert html_to_text(outlook) == "[spacecal] Not booked: the room is taken.\n\nAgenda <draft> v2"
    assert html_to_text("<p>one</p><p>two</p>") == "one\ntwo"
    assert html_to_text("") == ""


async def test_registry_offers_only_configured_providers() -> None:
    bare = Settings(google_client_id=None, microsoft_client_id=None)
    # CalDAV needs no client credentials: the member brings the server and password.
    assert configured_providers(bare) == ["caldav"]
    assert missing_settings_message("google", bare) == (
        "Set SPACECAL_GOOGLE_CLIENT_ID and SPACECAL_GOOGLE_CLIENT_SECRET to offer Google Calendar"
    )
    half = Settings(microsoft_client_id="abc", microsoft_client_secret=None)
    assert missing_settings_message("microsoft", half) == (
        "Set SPACECAL_MICROSOFT_CLIENT_SECRET to offer Microsoft 365"
    )
    both = Settings(
        google_client_id="g",
        google_client_secret="gs",
        microsoft_client_id="m",
        microsoft_client_secret="ms",
    )
    assert configured_providers(both) == ["google", "microsoft", "caldav"]
    async with httpx2.AsyncClient() as client:
        google = build_provider("google", both, client)
        assert google.name == "google" and "gs" not in repr(google)
        assert build_provider("microsoft", both, client).name == "microsoft"
        with pytest.raises(ValueError, match="SPACECAL_GOOGLE_CLIENT_ID"):
            build_provider("google", bare, client)
        with pytest.raises(ValueError, match="unknown provider"):
            build_provider("yahoo", both, client)
