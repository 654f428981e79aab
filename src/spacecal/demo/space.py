"""The demo's space: seeded through the same doors an operator and a member use.

The admin API user is created like `spacecal users create` does and gets its token
from `POST /api/token`; the business, its rooms and desks and the members are made
through the records API; the member's password is set like `spacecal members
set-password` does; her Google and Microsoft accounts are connected through the
portal and the emulators' consent pages (see browser.py), and "Meeting Room A" is
added to both, which provisions a calendar and a push channel in each account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx2
from sqlalchemy import select

from spacecal.api.users import create_user
from spacecal.db.models import Connection
from spacecal.demo.browser import Browser, DemoSetupError
from spacecal.demo.stack import Stack
from spacecal.portal.members import set_password

BUSINESS = "Riverside"
ZONE = "Europe/London"
OPEN_EVERY_DAY = {
    d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
ROOMS = ("Meeting Room A", "Meeting Room B")
DESKS = ("Desk 1", "Desk 2")
ADMIN_EMAIL = "admin@riverside.example"
ALICE = ("Alice Member", "alice@example.com")
BOB = ("Bob Member", "bob@example.com")
ALICE_GOOGLE = "alice@gmail.test"
ALICE_MICROSOFT = "alice@outlook.test"


@dataclass
class Space:
    business_id: int
    room_id: int
    alice_id: int
    bob_id: int
    admin_email: str
    admin_password: str
    admin_token: str
    member_email: str
    member_password: str
    member_google: str
    member_microsoft: str
    google_connection: int
    microsoft_connection: int
    google_calendar: str
    microsoft_calendar: str
    calendar_name: str

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


async def _create(api: httpx2.AsyncClient, path: str, body: dict[str, Any]) -> int:
    answer = await api.post(f"/api/spaces/{path}", json=body)
    payload = answer.json()
    if answer.status_code != 200 or not payload.get("WasSuccessful"):
        raise DemoSetupError(f"creating a {path} record failed: {answer.text[:300]}")
    return int(payload["Value"]["Id"])


async def _connection(stack: Stack, coworker: int, resource: int, provider: str) -> Any:
    """(id, calendar_id, name) of the connection the portal made."""
    async with stack.database.engine.connect() as conn:
        row = (
            await conn.execute(
                select(Connection.id, Connection.calendar_id, Connection.name).where(
                    Connection.coworker_id == coworker,
                    Connection.resource_id == resource,
                    Connection.provider == provider,
                )
            )
        ).first()
    if row is None or not row.calendar_id:
        raise DemoSetupError(f"adding the room to the {provider} account made no calendar")
    return row


async def seed(stack: Stack, say: Any) -> Space:
    """Create the space and connect Alice's two accounts; returns what was made."""
    db = stack.database
    admin_password = secrets.token_urlsafe(12)
    member_password = "riverside-" + secrets.token_hex(4)

    say(f"Creating the admin API user {ADMIN_EMAIL}…")
    await create_user(db.engine, ADMIN_EMAIL, admin_password, [], True)
    async with httpx2.AsyncClient(base_url=stack.spacecal_url, timeout=30) as http:
        answer = await http.post(
            "/api/token",
            data={"grant_type": "password", "username": ADMIN_EMAIL, "password": admin_password},
        )
        if answer.status_code != 200:
            raise DemoSetupError(f"POST /api/token answered {answer.status_code}: {answer.text}")
        token = str(answer.json()["access_token"])

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(base_url=stack.spacecal_url, headers=headers, timeout=30) as api:
        say(f"Creating the business {BUSINESS!r} ({ZONE}) with 2 rooms and 2 desks (records API)…")
        business = await _create(
            api,
            "businesses",
            {"Name": BUSINESS, "TimeZone": ZONE, "MaxBookingDaysAhead": 30},
        )
        resources: dict[str, int] = {}
        for name in ROOMS:
            resources[name] = await _create(
                api,
                "resources",
                {
                    "BusinessId": business,
                    "Name": name,
                    "ResourceType": "room",
                    "TimeSlotStep": 30,
                    "OpeningHours": OPEN_EVERY_DAY,
                },
            )
        for name in DESKS:
            resources[name] = await _create(
                api,
                "resources",
                {
                    "BusinessId": business,
                    "Name": name,
                    "ResourceType": "desk",
                    "AllDayBookable": True,
                    "OpeningHours": OPEN_EVERY_DAY,
                },
            )
        members = {}
        for full_name, email in (ALICE, BOB):
            members[email] = await _create(
                api, "coworkers", {"FullName": full_name, "Email": email, "BusinessId": business}
            )
    alice, bob = members[ALICE[1]], members[BOB[1]]
    await set_password(db.engine, alice, member_password)

    room = resources[ROOMS[0]]
    browser = Browser(stack.spacecal_url)
    try:
        say(f"Alice signs in to the portal and connects Google ({ALICE_GOOGLE})…")
        await browser.sign_in(ALICE[1], member_password)
        await browser.connect("google", ALICE_GOOGLE)
        await browser.add_resource(room, "google")
        say(f"Alice connects Microsoft 365 ({ALICE_MICROSOFT})…")
        await browser.connect("microsoft", ALICE_MICROSOFT)
        await browser.add_resource(room, "microsoft")
    finally:
        await browser.aclose()
    google = await _connection(stack, alice, room, "google")
    microsoft = await _connection(stack, alice, room, "microsoft")
    assert google.calendar_id and microsoft.calendar_id
    say(f"  '{google.name}' now appears in both of her calendars.")
    return Space(
        business_id=business,
        room_id=room,
        alice_id=alice,
        bob_id=bob,
        admin_email=ADMIN_EMAIL,
        admin_password=admin_password,
        admin_token=token,
        member_email=ALICE[1],
        member_password=member_password,
        member_google=ALICE_GOOGLE,
        member_microsoft=ALICE_MICROSOFT,
        google_connection=google.id,
        microsoft_connection=microsoft.id,
        google_calendar=google.calendar_id,
        microsoft_calendar=microsoft.calendar_id,
        calendar_name=google.name,
    )
