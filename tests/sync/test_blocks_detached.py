"""Availability blocks in a calendar spacecal stops syncing: the calendar is kept
(its events are the member's record of their bookings), but its blocks go, since
nothing would keep them true any more."""

from __future__ import annotations

import pytest
from tests.support.bookings import tomorrow_at
from tests.support.environments import PROVIDERS, SyncEnv
from tests.support.member import Member
from tests.sync.test_blocks import blocks, book


async def _alice_sees_bobs_booking(s: SyncEnv, provider: str) -> Member:
    alice = await s.connect(provider, "alice")
    await s.connect(provider, "bob")
    await book(s, s.env.space.bob, tomorrow_at(10))
    await s.settle()
    assert len(blocks(alice)) == 1
    return alice


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_removing_the_resource_in_the_portal_takes_the_blocks_away(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await _alice_sees_bobs_booking(sync_env, provider)
    browser = sync_env.env.new_browser()
    await browser.sign_in("alice@example.com")
    page = await browser.post_form(
        f"/portal/resources/{sync_env.env.space.room_id}/{provider}", action="remove"
    )
    assert page.status_code == 200, page.text
    await browser.aclose()
    await sync_env.settle()
    assert alice.events() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_resource_made_unbookable_leaves_no_blocks_in_the_kept_calendar(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await _alice_sees_bobs_booking(sync_env, provider)
    room = sync_env.env.space.room_id
    record = (await sync_env.env.api.get(f"/api/spaces/resources/{room}")).json()
    body = {k: v for k, v in record.items() if v is not None}
    answer = await sync_env.env.api.put("/api/spaces/resources", json={**body, "Bookable": False})
    assert answer.status_code == 200, answer.text
    await sync_env.settle()
    assert alice.events() == []
    # The calendar itself is kept, with its note.
    assert alice.calendar_id in {c["id"] for c in _calendars(sync_env, provider, alice)}


def _calendars(s: SyncEnv, provider: str, member: Member) -> list[dict[str, object]]:
    email = member.email
    if provider == "google":
        return [c for c in s.env.google.calendars(email) if not c["deleted"]]
    return list(s.env.microsoft.calendars(email))
