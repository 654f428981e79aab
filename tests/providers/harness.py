"""The test harness: one emulator per test, the adapter under test wired to it over
httpx2's ASGI transport, an account with tokens, and "the member" acting on their own
calendar through the emulator's member actions. `Env` hides which provider it is, so
the scenario tests run once per provider."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from spacecal.config import Settings
from spacecal.emulators.common import EmulatorClock
from spacecal.emulators.google import GoogleEmulator
from spacecal.emulators.microsoft import MicrosoftEmulator
from spacecal.providers.base import CalendarProvider, SyncWindow
from spacecal.providers.google import GoogleProvider
from spacecal.providers.microsoft import MicrosoftProvider

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
WINDOW = SyncWindow(NOW - timedelta(days=1), NOW + timedelta(days=90))
CLIENT_ID = "spacecal-test"
CLIENT_SECRET = "s3cret-client"
REDIRECT = "http://spacecal.test/oauth/callback"
HOOK = "http://spacecal.test/webhooks/hook"
LIFECYCLE = "http://spacecal.test/webhooks/lifecycle"
EMAIL = "ann@example.com"
GOOGLE_BASE = "http://google.emulator.test"
MS_BASE = "http://microsoft.emulator.test"


def pkce_pair(verifier: str = "v" * 64) -> tuple[str, str]:
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def webhook_client() -> httpx2.AsyncClient:
    """spacecal's webhook endpoint, as far as the emulators need it: Graph URL
    validation echoed as text/plain, every notification answered 202."""

    async def hook(request: Request) -> Response:
        token = request.query_params.get("validationToken")
        if token is not None:
            return PlainTextResponse(token)
        return Response(status_code=202)

    app = Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])])
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app))


class _Form(HTMLParser):
    """The first form of a page: action, fields with values, submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.email_field: str | None = None
        self.buttons: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action = a.get("action", "")
        elif tag == "input" and a.get("name"):
            if a.get("type") == "email" or a["name"] in ("email", "login"):
                self.email_field = a["name"]
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and a.get("name"):
            self.buttons.append(a)


async def consent_like_a_browser(
    http: httpx2.AsyncClient, authorize_url: str, email: str, *, accept: bool = True
) -> dict[str, str]:
    """Open the consent page, fill the email, press Allow/Accept (or Deny/Cancel)
    and return the query of the redirect to our callback."""
    page = await http.get(authorize_url)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    assert form.action is not None and form.email_field is not None
    data = dict(form.fields)
    data[form.email_field] = email
    wanted = ("allow", "accept") if accept else ("deny",)
    button = next(b for b in form.buttons if b.get("id") in wanted)
    data[button["name"]] = button["value"]
    answer = await http.post(urljoin(authorize_url, form.action), data=data)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@dataclass
class Env:
    """One provider, its emulator, an account and a calendar spacecal made."""

    name: str
    emu: Any
    provider: CalendarProvider
    http: httpx2.AsyncClient
    settings: Settings
    email: str
    access: str
    refresh: str
    calendar_id: str = ""
    hooks: httpx2.AsyncClient | None = None
    closers: list[Any] = field(default_factory=list)

    # -- member actions (acting in their own Google Calendar / Outlook) ----------

    def create_event(
        self,
        title: str,
        start: datetime,
        end: datetime,
        *,
        tz: str = "UTC",
        tentative: bool = False,
        description: str = "",
    ) -> str:
        if self.name == "google":
            body: dict[str, Any] = {
                "summary": title,
                "description": description,
                "start": {"dateTime": start.isoformat(), "timeZone": tz},
                "end": {"dateTime": end.isoformat(), "timeZone": tz},
            }
            if tentative:
                body["status"] = "tentative"
            return str(self.emu.create_event(self.calendar_id, body)["id"])
        extra: dict[str, Any] = {"body": {"contentType": "html", "content": description}}
        if tentative:
            extra["showAs"] = "tentative"
        made = self.emu.create_event(
            self.email, self.calendar_id, title, start, end, time_zone=tz, extra=extra
        )
        return str(made["id"])

    def create_all_day(self, title: str, first: date, end_exclusive: date) -> str:
        if self.name == "google":
            body = {
                "summary": title,
                "start": {"date": first.isoformat()},
                "end": {"date": end_exclusive.isoformat()},
            }
            return str(self.emu.create_event(self.calendar_id, body)["id"])
        zone = "W. Europe Standard Time"
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(end_exclusive.year, end_exclusive.month, end_exclusive.day, tzinfo=UTC)
        mailbox = self.emu.mailbox(self.email)
        payload = {
            "subject": title,
            "isAllDay": True,
            "start": {"dateTime": start.strftime("%Y-%m-%dT00:00:00"), "timeZone": zone},
            "end": {"dateTime": end.strftime("%Y-%m-%dT00:00:00"), "timeZone": zone},
        }
        event, _ = mailbox.create_event(self.calendar_id, payload)
        return str(event.id)

    def create_weekly(self, title: str, first_start: datetime, hours: int, count: int) -> str:
        """A weekly series in Europe/Paris wall time; returns the series id."""
        if self.name == "google":
            paris = first_start.astimezone(_paris())
            body = {
                "summary": title,
                "start": {
                    "dateTime": paris.replace(tzinfo=None).isoformat(),
                    "timeZone": "Europe/Paris",
                },
                "end": {
                    "dateTime": (paris + timedelta(hours=hours)).replace(tzinfo=None).isoformat(),
                    "timeZone": "Europe/Paris",
                },
                "recurrence": [f"RRULE:FREQ=WEEKLY;COUNT={count}"],
            }
            return str(self.emu.create_event(self.calendar_id, body)["id"])
        day = first_start.astimezone(_paris())
        recurrence = {
            "pattern": {
                "type": "weekly",
                "interval": 1,
                "daysOfWeek": [day.strftime("%A").lower()],
            },
            "range": {
                "type": "numbered",
                "startDate": day.date().isoformat(),
                "numberOfOccurrences": count,
            },
        }
        made = self.emu.create_event(
            self.email,
            self.calendar_id,
            title,
            first_start,
            first_start + timedelta(hours=hours),
            time_zone="W. Europe Standard Time",
            recurrence=recurrence,
        )
        return str(made["id"])

    def instance_key(self, series: str, original_start: datetime) -> str:
        if self.name == "google":
            return str(self.emu.instance_id(series, original_start))
        return str(self.emu.occurrence_id(self.email, series, original_start))

    def move_instance(
        self, series: str, original_start: datetime, start: datetime, end: datetime
    ) -> str:
        if self.name == "google":
            moved = self.emu.move_instance(
                self.calendar_id,
                series,
                original_start,
                {"dateTime": start.isoformat(), "timeZone": "UTC"},
                {"dateTime": end.isoformat(), "timeZone": "UTC"},
            )
            return str(moved["id"])
        return str(self.emu.move_occurrence(self.email, series, original_start, start, end)["id"])

    def cancel_instance(self, series: str, original_start: datetime) -> str:
        if self.name == "google":
            return str(self.emu.cancel_instance(self.calendar_id, series, original_start)["id"])
        return str(self.emu.cancel_occurrence(self.email, series, original_start))

    def move_event(self, key: str, start: datetime, end: datetime) -> None:
        if self.name == "google":
            self.emu.move_event(
                self.calendar_id,
                key,
                {"dateTime": start.isoformat(), "timeZone": "UTC"},
                {"dateTime": end.isoformat(), "timeZone": "UTC"},
            )
        else:
            self.emu.move_event(self.email, key, start, end)

    def delete_event(self, key: str) -> None:
        if self.name == "google":
            self.emu.delete_event(self.calendar_id, key)
        else:
            self.emu.delete_event(self.email, key)

    # -- emulator knobs -------------------------------------------------------------

    def expire_access_token(self) -> None:
        """The access token dies early (spacecal still thinks it is valid)."""
        if self.name == "google":
            self.emu.clock.advance(timedelta(seconds=3600))
        else:
            self.emu.expire_access_tokens(self.email)

    def revoke_consent(self) -> None:
        self.emu.revoke_consent(self.email)

    def reset_sync(self) -> None:
        if self.name == "google":
            self.emu.expire_sync_tokens(self.calendar_id)
        else:
            self.emu.reset_delta(self.email)

    def token_calls(self) -> int:
        return sum(1 for c in self.emu.core.calls.list() if c.path.endswith("/token"))

    def api_calls(self, fragment: str) -> int:
        return sum(1 for c in self.emu.core.calls.list() if fragment in c.path)

    # -- reading the calendar as it is (over HTTP, with the account's token) -------

    async def live_events(self) -> list[dict[str, Any]]:
        auth = {"Authorization": f"Bearer {self.access}"}
        if self.name == "google":
            r = await self.http.get(
                f"{self.settings.google_api_base}/calendars/{self.calendar_id}/events",
                headers=auth,
            )
            assert r.status_code == 200, r.text
            return list(r.json()["items"])
        r = await self.http.get(
            f"{self.settings.microsoft_graph_base}/me/calendars/{self.calendar_id}/events",
            params={"$top": "100"},
            headers=auth,
        )
        assert r.status_code == 200, r.text
        return list(r.json()["value"])

    async def raw_event(self, key: str, expand_property: str | None = None) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {self.access}"}
        if self.name == "google":
            url = f"{self.settings.google_api_base}/calendars/{self.calendar_id}/events/{key}"
            r = await self.http.get(url, headers=auth)
        else:
            params = (
                {"$expand": f"singleValueExtendedProperties($filter=id eq '{expand_property}')"}
                if expand_property
                else None
            )
            r = await self.http.get(
                f"{self.settings.microsoft_graph_base}/me/events/{key}", params=params, headers=auth
            )
        assert r.status_code == 200, r.text
        return dict(r.json())


def _paris() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Paris")


def google_env(page_size: int = 2500) -> Env:
    hooks = webhook_client()
    emu = GoogleEmulator(
        seed=1, base_url=GOOGLE_BASE, push_client=hooks, clock=EmulatorClock(NOW, frozen=True)
    )
    emu.register_client(CLIENT_ID, CLIENT_SECRET, ["*"])
    acct = emu.create_account(EMAIL, client_id=CLIENT_ID)
    urls = emu.urls()
    settings = Settings(
        google_client_id=CLIENT_ID,
        google_client_secret=CLIENT_SECRET,
        google_api_base=urls["api"],
        google_authorize_url=urls["authorize"],
        google_token_url=urls["token"],
        google_revoke_url=urls["revoke"],
        google_page_size=page_size,
    )
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emu.app), base_url=GOOGLE_BASE)
    provider = GoogleProvider(settings, http)
    return Env(
        "google",
        emu,
        provider,
        http,
        settings,
        acct["email"],
        acct["access_token"],
        acct["refresh_token"],
        hooks=hooks,
    )


def microsoft_env(page_size: int = 200) -> Env:
    hooks = webhook_client()
    emu = MicrosoftEmulator(
        seed=1,
        base_url=MS_BASE,
        push_client=hooks,
        clock=EmulatorClock(NOW, frozen=True),
        notification_timeout=1.0,
        validation_timeout=1.0,
        retry_base=0.01,
        retry_cap=0.05,
    )
    acct = emu.create_account(EMAIL, "Ann Example", client_id=CLIENT_ID)
    settings = Settings(
        microsoft_client_id=CLIENT_ID,
        microsoft_client_secret=CLIENT_SECRET,
        microsoft_graph_base=emu.urls()["graph"],
        microsoft_login_base=emu.urls()["login"],
        microsoft_page_size=page_size,
    )
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emu.app), base_url=MS_BASE)
    provider = MicrosoftProvider(settings, http)
    return Env(
        "microsoft",
        emu,
        provider,
        http,
        settings,
        acct["email"],
        acct["access_token"],
        acct["refresh_token"],
        hooks=hooks,
    )


def make_env(name: str, **kw: Any) -> Env:
    return google_env(**kw) if name == "google" else microsoft_env(**kw)


async def close_env(env: Env) -> None:
    await env.http.aclose()
    await env.emu.aclose()
    if env.hooks is not None:
        await env.hooks.aclose()


def keys(events: Iterator[Any] | list[Any]) -> list[str]:
    return [e.key for e in events]
