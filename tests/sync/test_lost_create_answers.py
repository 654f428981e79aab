"""Creates whose answer was lost: the create reached the provider, spacecal never
heard. A repeat under the same key answers with the event as it is there: as first
written (chaos seed 191), or as the member changed it since (seed 380). A booking
moved or cancelled meanwhile must still move or remove its block and its member's
event, and a block the member moved must still be put back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.support.bookings import live_bookings, tomorrow_at
from tests.support.environments import GOOGLE, MICROSOFT, PROVIDERS, SyncEnv, move_clocks
from tests.support.member import Member
from tests.sync.test_blocks import blocks, book, move

from spacecal.db.models import EventLink
from spacecal.sync.reconcile.block_writes import BLOCK_PENDING


def _base(alice: Member) -> str:
    return GOOGLE if alice.provider == "google" else MICROSOFT


async def _lose_creates(s: SyncEnv, member: Member) -> None:
    """Every answer to the member's event creates is lost (the repeats too), until
    cleared: the job gives up for now and things change before its next try."""
    await s.env.fault(
        _base(member),
        {
            "kind": "lost_response",
            "times": 100,
            "match": {"method": "POST", "path": "*/events", "account": member.email},
        },
    )


async def _answer_again(s: SyncEnv, member: Member) -> None:
    answer = await s.env.control.delete(_base(member) + "/_control/faults")
    assert answer.status_code == 204


async def _block_create_lost(s: SyncEnv, provider: str) -> tuple[Member, int]:
    alice = await s.connect(provider, "alice")
    await s.connect(provider, "bob")
    await _lose_creates(s, alice)
    booking_id = await book(s, s.env.space.bob, tomorrow_at(10))
    await s.settle()
    # The block is there (the provider applied the create); its link does not know.
    assert [b.start for b in blocks(alice)] == [tomorrow_at(10)]
    async with s.engine.connect() as conn:
        keys = list(await conn.scalars(select(EventLink.event_key)))
    assert [k for k in keys if k.startswith(BLOCK_PENDING)], keys
    await _answer_again(s, alice)
    return alice, booking_id


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_block_whose_create_answer_was_lost_follows_a_move(
    sync_env: SyncEnv, provider: str
) -> None:
    alice, booking_id = await _block_create_lost(sync_env, provider)
    await move(sync_env, booking_id, tomorrow_at(14))
    move_clocks(sync_env.env, timedelta(minutes=10))  # past any retry's backoff
    await sync_env.settle()
    [block] = blocks(alice)
    assert (block.start, block.end) == (tomorrow_at(14), tomorrow_at(15))
    assert await sync_env.settle() == 0  # and nothing more is owed


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_block_whose_create_answer_was_lost_goes_with_its_booking(
    sync_env: SyncEnv, provider: str
) -> None:
    alice, booking_id = await _block_create_lost(sync_env, provider)
    answer = await sync_env.env.api.delete(f"/api/spaces/bookings/{booking_id}")
    assert answer.status_code == 200, answer.text
    move_clocks(sync_env.env, timedelta(minutes=10))
    await sync_env.settle()
    assert alice.events() == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_recreated_block_the_member_moved_before_the_answer_is_put_back(
    sync_env: SyncEnv, provider: str
) -> None:
    alice = await sync_env.connect(provider, "alice")
    await sync_env.connect(provider, "bob")
    await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.settle()
    [block] = blocks(alice)
    await _lose_creates(sync_env, alice)
    alice.delete(block.id)  # written again under a new key; that answer is lost
    await sync_env.settle()
    [again] = blocks(alice)
    alice.move(again.id, tomorrow_at(16), tomorrow_at(17))
    await _answer_again(sync_env, alice)
    move_clocks(sync_env.env, timedelta(minutes=10))
    await sync_env.settle()
    [block] = blocks(alice)
    assert (block.start, block.end) == (tomorrow_at(10), tomorrow_at(11))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_members_event_whose_create_answer_was_lost_follows_a_move(
    sync_env: SyncEnv, provider: str
) -> None:
    bob = await sync_env.connect(provider, "bob")
    await _lose_creates(sync_env, bob)
    booking_id = await book(sync_env, sync_env.env.space.bob, tomorrow_at(10))
    await sync_env.settle()
    assert [e.start for e in bob.events()] == [tomorrow_at(10)]
    await move(sync_env, booking_id, tomorrow_at(14))
    await _answer_again(sync_env, bob)
    move_clocks(sync_env.env, timedelta(minutes=10))
    await sync_env.settle()
    [event] = bob.events()
    assert (event.start, event.end) == (tomorrow_at(14), tomorrow_at(15))
    [booking] = [b for b in await live_bookings(sync_env) if b.id == booking_id]
    assert booking.from_time == tomorrow_at(14)
