"""Bookings as tests make and read them: times relative to spacecal's clock (which
each environment starts at a fixed instant), the live bookings, a booking through the
records API."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from tests.support.environments import Env, SyncEnv
from tests.support.portal import MICROSOFT

from spacecal import clock
from spacecal.db.models import Booking, table_of
from spacecal.domain.opening_hours import local_minute_to_utc

BOOKINGS = table_of(Booking)


LONDON = ZoneInfo("Europe/London")


def tomorrow_at(hour: int, minute: int = 0, days: int = 1) -> datetime:
    day = clock.now().astimezone(LONDON).date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


async def live_bookings(s: SyncEnv) -> list[Any]:
    async with s.engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    select(BOOKINGS)
                    .where(BOOKINGS.c.cancelled_at.is_(None))
                    .order_by(BOOKINGS.c.from_time)
                )
            ).all()
        )


EMAIL = {"google": "alice@gmail.test", "microsoft": "alice@outlook.test"}


async def book_via_api(env: Env, days: int = 2) -> int:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/London")
    day = clock.now().astimezone(zone).date() + timedelta(days=days)
    start = local_minute_to_utc(day, 10 * 60, zone)
    answer = await env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": env.space.room_id,
            "CoworkerId": env.space.alice,
            "FromTime": start.isoformat(),
            "ToTime": (start + timedelta(hours=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["Value"]["Id"])


_book_via_api = book_via_api


RECORDS = {"google": "coworkergooglecalendars", "microsoft": "coworkermsofficecalendars"}


async def _events(env: Env, provider: str, calendar_id: str) -> list[dict]:
    if provider == "google":
        tokens = await env.control.post(
            f"http://google.emulator.test/_control/accounts/{EMAIL['google']}/tokens", json={}
        )
        access = tokens.json()["access_token"]
        answer = await env.control.get(
            f"http://google.emulator.test/calendar/v3/calendars/{calendar_id}/events",
            headers={"Authorization": f"Bearer {access}"},
        )
        assert answer.status_code == 200, answer.text
        return [e for e in answer.json()["items"] if e.get("status") != "cancelled"]
    tokens = await env.control.post(
        f"{MICROSOFT}/_control/accounts/{EMAIL['microsoft']}/tokens", json={}
    )
    access = tokens.json()["access_token"]
    answer = await env.control.get(
        f"{MICROSOFT}/v1.0/me/calendars/{calendar_id}/events",
        headers={"Authorization": f"Bearer {access}"},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


async def live_subscriptions(env: Env, provider: str) -> list[dict]:
    if provider == "google":
        return [c for c in await env.google_json("/channels") if c["live"]]
    subs = await env.ms_json("/microsoft/subscriptions")
    return list(subs if isinstance(subs, list) else subs.get("value", subs.get("subscriptions")))


async def calendars(env: Env, provider: str) -> list[dict]:
    if provider == "google":
        cals = await env.google_json("/calendars", email=EMAIL["google"])
        return [c for c in cals if not c.get("deleted") and c["id"] != EMAIL["google"]]
    tokens = await env.control.post(
        f"{MICROSOFT}/_control/accounts/{EMAIL['microsoft']}/tokens", json={}
    )
    answer = await env.control.get(
        f"{MICROSOFT}/v1.0/me/calendars",
        headers={"Authorization": f"Bearer {tokens.json()['access_token']}"},
    )
    return [c for c in answer.json()["value"] if c["name"] != "Calendar"]
