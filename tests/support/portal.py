"""Helpers for portal tests: a browser-like HTTP client over spacecal and both
emulators in-process (one cookie jar, redirects followed across hosts), a small HTML
form reader, and a seeded space (business, resources, members with passwords)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx2
from sqlalchemy import insert
from tests.support.api import insert_api_user_in

from spacecal import clock
from spacecal.db.models import Business, Coworker, Resource

SPACECAL = "http://spacecal.test"
GOOGLE = "http://google.emulator.test"
MICROSOFT = "http://microsoft.emulator.test"
PASSWORD = "correct horse battery"
OPEN_ALL_WEEK = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # name, value, id
    ids: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._current)
        elif self._current is not None and tag == "input":
            if a.get("type") not in ("submit", "button") and a.get("name"):
                self._current.fields[a["name"]] = a.get("value", "")
            if a.get("id"):
                self._current.ids.append(a["id"])
        elif self._current is not None and tag == "button":
            self._current.buttons.append((a.get("name", ""), a.get("value", ""), a.get("id", "")))
            if a.get("id"):
                self._current.ids.append(a["id"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def find_form(html: str, action_part: str) -> Form:
    matches = [f for f in forms(html) if action_part in f.action]
    assert matches, f"no form posting to {action_part!r} on the page"
    return matches[0]


class Browser:
    """One client for every host, like a browser: cookies per host, redirects followed."""

    def __init__(self, mounts: dict[str, httpx2.ASGITransport]) -> None:
        self.http = httpx2.AsyncClient(mounts=mounts, follow_redirects=True, timeout=30)
        self.page: httpx2.Response | None = None

    async def get(self, url: str) -> httpx2.Response:
        self.page = await self.http.get(url if "://" in url else SPACECAL + url)
        return self.page

    async def submit(self, form: Form, base: str | None = None, **values: str) -> httpx2.Response:
        base = base or (str(self.page.url) if self.page is not None else SPACECAL)
        url = urljoin(base, form.action)
        data = {**form.fields, **values}
        if form.method == "get":
            self.page = await self.http.get(url, params=data)
        else:
            self.page = await self.http.post(url, data=data)
        return self.page

    async def post_form(self, action_part: str, **values: str) -> httpx2.Response:
        """Submit the form on the current page whose action contains `action_part`."""
        assert self.page is not None
        return await self.submit(find_form(self.page.text, action_part), **values)

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx2.Response:
        await self.get("/portal/signin")
        return await self.post_form("/portal/signin", email=email, password=password)

    async def connect(self, provider: str, email: str, decision: str = "allow") -> httpx2.Response:
        """Connect from Integrations through the emulator's consent page."""
        await self.get("/portal")
        consent = await self.post_form(f"/portal/connect/{provider}")
        assert consent.status_code == 200, consent.text
        form = forms(consent.text)[0]
        if provider == "google":
            return await self.submit(form, email=email, decision=decision)
        return await self.submit(
            form, login=email, decision="accept" if decision == "allow" else "deny"
        )

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Space:
    business_id: int
    room_id: int
    desk_id: int
    alice: int
    bob: int
    admin_headers: dict[str, str]


async def seed_space(engine: Any, password_hash: str) -> Space:
    now = clock.now()
    common = lambda: {  # noqa: E731
        "unique_id": uuid.uuid4(),
        "created_on": now,
        "updated_on": now,
    }
    async with engine.begin() as conn:
        business = await conn.scalar(
            insert(Business)
            .values(
                name="Riverside", time_zone="Europe/London", max_booking_days_ahead=30, **common()
            )
            .returning(Business.id)
        )
        room = await conn.scalar(
            insert(Resource)
            .values(
                business_id=business,
                name="Meeting Room A",
                resource_type="room",
                slot_step_minutes=30,
                opening_hours=OPEN_ALL_WEEK,
                **common(),
            )
            .returning(Resource.id)
        )
        desk = await conn.scalar(
            insert(Resource)
            .values(business_id=business, name="Desk 1", resource_type="desk", **common())
            .returning(Resource.id)
        )
        ids = []
        for name, email in (
            ("Alice Member", "alice@example.com"),
            ("Bob Member", "bob@example.com"),
        ):
            ids.append(
                await conn.scalar(
                    insert(Coworker)
                    .values(
                        business_id=business,
                        full_name=name,
                        email=email,
                        password_hash=password_hash,
                        **common(),
                    )
                    .returning(Coworker.id)
                )
            )
        admin = await insert_api_user_in(
            conn, password_hash, "admin@example.com", full_admin=True, token_days=1
        )
    return Space(business, room, desk, ids[0], ids[1], admin)
