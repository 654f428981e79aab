"""Invitation addresses: the token scheme, its separators and case, and what routes."""

from __future__ import annotations

import re

from sqlalchemy import text
from tests.mail.intake_support import DOMAIN, IntakeEnv

from spacecal.mail import addresses


def test_tokens_are_long_lowercase_base32_and_fresh() -> None:
    tokens = {addresses.new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(re.fullmatch(r"[a-z2-7]{26}", t) for t in tokens)


def test_parse_accepts_plus_dash_and_dot_in_any_case() -> None:
    token = "abcdefghijklmnop234567"
    for sep in "+-.":
        parsed = addresses.parse(f"Meeting-Room-A{sep}{token.upper()}@MAIL.Riverside.test", DOMAIN)
        assert parsed is not None
        assert parsed.with_token == ("meeting-room-a", token)


def test_parse_refuses_other_domains_and_junk() -> None:
    assert addresses.parse("room+abcdefghijklmnop@example.com", DOMAIN) is None
    assert addresses.parse("room+abcdefghijklmnop@evil.mail.riverside.test", DOMAIN) is None
    assert addresses.parse("no-at-sign", DOMAIN) is None
    assert addresses.parse('"a b"@' + DOMAIN, DOMAIN) is None
    assert addresses.parse("room+abc@" + DOMAIN, DOMAIN) is None  # too short for a token
    short = addresses.parse("room-abc@" + DOMAIN, DOMAIN)  # a plain slug, no token
    assert short is not None and short.with_token is None and short.plain == "room-abc"


def test_slugify() -> None:
    assert addresses.slugify("Meeting Room A · Riverside") == "meeting-room-a-riverside"
    assert addresses.slugify("···") == "resource"


async def test_resolve_routes_current_and_replaced_tokens(intake_env: IntakeEnv) -> None:
    space = intake_env.sync.env.space
    first = await intake_env.address()
    async with intake_env.engine.begin() as conn:
        found = await addresses.resolve(conn, first.upper(), DOMAIN)
        assert found is not None
        assert (found.resource_id, found.coworker_id, found.current) == (
            space.room_id,
            space.alice,
            True,
        )
        assert found.address == first
        await addresses.replace_token(conn, space.alice, space.room_id)
        old = await addresses.resolve(conn, first, DOMAIN)
        assert old is not None and old.current is False and old.address_id == found.address_id
    second = await intake_env.address()
    assert second != first
    async with intake_env.engine.connect() as conn:
        new = await addresses.resolve(conn, second, DOMAIN)
        assert new is not None and new.current is True
        # The token with another resource's slug routes nowhere.
        wrong = second.replace("meeting-room-a+", "desk-1+")
        await addresses.slug_of(conn, space.desk_id)
        assert await addresses.resolve(conn, wrong, DOMAIN) is None


async def test_plain_address_only_with_the_business_opt_in(intake_env: IntakeEnv) -> None:
    space = intake_env.sync.env.space
    async with intake_env.engine.begin() as conn:
        slug = await addresses.slug_of(conn, space.room_id)
        plain = addresses.address(slug, None, DOMAIN)
        assert await addresses.resolve(conn, plain, DOMAIN) is None
        await conn.execute(
            text("UPDATE businesses SET invitations_plain_address = true WHERE id = :b"),
            {"b": space.business_id},
        )
        found = await addresses.resolve(conn, plain, DOMAIN)
    assert found is not None
    assert (found.resource_id, found.coworker_id, found.address_id) == (space.room_id, None, None)


async def test_slugs_are_kept_and_unique(intake_env: IntakeEnv) -> None:
    space = intake_env.sync.env.space
    async with intake_env.engine.begin() as conn:
        await conn.execute(
            text("UPDATE resources SET name = 'Meeting Room A' WHERE id = :d"),
            {"d": space.desk_id},
        )
        room = await addresses.slug_of(conn, space.room_id)
        desk = await addresses.slug_of(conn, space.desk_id)
        await conn.execute(
            text("UPDATE resources SET name = 'Renamed' WHERE id = :r"), {"r": space.room_id}
        )
        again = await addresses.slug_of(conn, space.room_id)
    assert room == again == "meeting-room-a"
    assert desk == f"meeting-room-a-{space.desk_id}"


async def test_the_business_record_turns_the_plain_address_on(intake_env: IntakeEnv) -> None:
    env = intake_env.sync.env
    business = env.space.business_id
    record = (await env.api.get(f"/api/spaces/businesses/{business}")).json()
    assert record["InvitationsPlainAddress"] is False
    changed = {**record, "InvitationsPlainAddress": True}
    answer = await env.api.put("/api/spaces/businesses", json=changed)
    assert answer.status_code == 200, answer.text
    async with intake_env.engine.begin() as conn:
        slug = await addresses.slug_of(conn, env.space.room_id)
    plain = addresses.address(slug, None, DOMAIN)
    assert await intake_env.send([plain], b"Subject: x\r\n\r\nx\r\n") == {}
    [row] = await intake_env.stored()
    assert (row["rcpt_to"], row["coworker_id"], row["address_id"]) == (plain, None, None)
