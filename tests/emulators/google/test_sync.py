"""Paging and sync tokens: what the sync engine relies on."""

from __future__ import annotations

from typing import Any

import pytest
from tests.emulators.google.helpers import Env

from spacecal.emulators.common import FaultKind

SYNC = {"singleEvents": "true", "showDeleted": "true"}


def timed(day: int, hour: int, **extra: Any) -> dict[str, Any]:
    return {
        "start": {"dateTime": f"2026-12-{day:02d}T{hour:02d}:00:00Z"},
        "end": {"dateTime": f"2026-12-{day:02d}T{hour + 1:02d}:00:00Z"},
        **extra,
    }


def seed_events(env: Env, cal: str, count: int) -> list[str]:
    return [
        env.emu.create_event(cal, timed(1 + n % 28, 8 + n % 10, summary=f"e{n}"))["id"]
        for n in range(count)
    ]


async def test_default_page_is_250_and_only_last_page_has_sync_token(env: Env) -> None:
    cal = await env.new_calendar()
    ids = seed_events(env, cal, 260)
    first = (await env.list(cal, **SYNC)).json()
    assert len(first["items"]) == 250
    assert "nextPageToken" in first and "nextSyncToken" not in first
    second = (await env.list(cal, **SYNC, pageToken=first["nextPageToken"])).json()
    assert len(second["items"]) == 10
    assert "nextPageToken" not in second and "nextSyncToken" in second
    assert [i["id"] for i in first["items"] + second["items"]] == ids


async def test_max_results_is_capped_at_2500(env: Env) -> None:
    cal = await env.new_calendar()
    seed_events(env, cal, 2501)
    page = (await env.list(cal, **SYNC, maxResults="5000")).json()
    assert len(page["items"]) == 2500 and "nextPageToken" in page
    assert (await env.list(cal, maxResults="0")).status_code == 400


async def test_incremental_pull_returns_only_changes_and_deletions(env: Env) -> None:
    cal = await env.new_calendar()
    a, b, c = seed_events(env, cal, 3)
    _, token = await env.pull(cal, **SYNC)
    env.emu.update_event(cal, a, {"summary": "moved"})
    env.emu.delete_event(cal, b)
    d = env.emu.create_event(cal, timed(5, 9))["id"]
    items, token2 = await env.pull(cal, **SYNC, syncToken=token)
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {a, b, d}
    assert by_id[a]["summary"] == "moved"
    assert by_id[b] == {
        "kind": "calendar#event",
        "etag": by_id[b]["etag"],
        "id": b,
        "status": "cancelled",
    }
    nothing, token3 = await env.pull(cal, **SYNC, syncToken=token2)
    assert nothing == [] and token3
    # Full pulls hide deleted events unless showDeleted is set.
    full, _ = await env.pull(cal, singleEvents="true")
    assert {i["id"] for i in full} == {a, c, d}


async def test_change_between_two_pages_is_not_lost(env: Env) -> None:
    cal = await env.new_calendar()
    ids = seed_events(env, cal, 5)
    first = (await env.list(cal, **SYNC, maxResults="2")).json()
    # Between page 1 and page 2: edit an item already served and one still to come,
    # delete one, create one.
    env.emu.update_event(cal, ids[0], {"summary": "edited-early"})
    env.emu.update_event(cal, ids[4], {"summary": "edited-late"})
    env.emu.delete_event(cal, ids[3])
    new = env.emu.create_event(cal, timed(20, 9))["id"]
    rest: list[dict[str, Any]] = []
    page = first
    while "nextPageToken" in page:
        page = (await env.list(cal, **SYNC, maxResults="2", pageToken=page["nextPageToken"])).json()
        rest.extend(page["items"])
    # The paged pull is a consistent snapshot: every original item exactly once.
    assert [i["id"] for i in first["items"] + rest] == ids
    changes, _ = await env.pull(cal, **SYNC, syncToken=page["nextSyncToken"])
    by_id = {i["id"]: i for i in changes}
    assert set(by_id) == {ids[0], ids[4], ids[3], new}
    assert by_id[ids[0]]["summary"] == "edited-early"
    assert by_id[ids[4]]["summary"] == "edited-late"
    assert by_id[ids[3]]["status"] == "cancelled"


async def test_change_during_incremental_paged_pull_is_not_lost(env: Env) -> None:
    cal = await env.new_calendar()
    ids = seed_events(env, cal, 3)
    _, token = await env.pull(cal, **SYNC)
    for event_id in ids:
        env.emu.update_event(cal, event_id, {"summary": "round1"})
    first = (await env.list(cal, **SYNC, syncToken=token, maxResults="2")).json()
    assert len(first["items"]) == 2 and "nextSyncToken" not in first
    env.emu.update_event(cal, ids[0], {"summary": "round2"})  # already served on page 1
    second = (
        await env.list(
            cal, **SYNC, syncToken=token, maxResults="2", pageToken=first["nextPageToken"]
        )
    ).json()
    assert [i["summary"] for i in first["items"] + second["items"]] == ["round1"] * 3
    after, _ = await env.pull(cal, **SYNC, syncToken=second["nextSyncToken"])
    assert [(i["id"], i["summary"]) for i in after] == [(ids[0], "round2")]


@pytest.mark.parametrize(
    "param",
    [
        ("iCalUID", "x@google.com"),
        ("orderBy", "startTime"),
        ("privateExtendedProperty", "bookingId=1"),
        ("q", "standup"),
        ("sharedExtendedProperty", "a=b"),
        ("timeMin", "2026-11-01T00:00:00Z"),
        ("timeMax", "2027-01-01T00:00:00Z"),
        ("updatedMin", "2026-11-01T00:00:00Z"),
    ],
)
async def test_forbidden_parameters_with_sync_token(env: Env, param: tuple[str, str]) -> None:
    cal = await env.new_calendar()
    _, token = await env.pull(cal, **SYNC)
    r = await env.list(cal, **SYNC, syncToken=token, **{param[0]: param[1]})
    assert r.status_code == 400
    assert r.json()["error"]["errors"][0]["reason"] == "invalid"


async def test_sync_token_is_tied_to_the_query(env: Env) -> None:
    cal = await env.new_calendar()
    _, token = await env.pull(cal, **SYNC)
    other = await env.list(cal, singleEvents="false", showDeleted="true", syncToken=token)
    assert other.status_code == 400
    other_cal = await env.new_calendar("Room Z")
    assert (await env.list(other_cal, **SYNC, syncToken=token)).status_code == 410
    # maxResults may differ between pulls.
    assert (await env.list(cal, **SYNC, syncToken=token, maxResults="7")).status_code == 200


FULL_SYNC_BODY = {
    "error": {
        "errors": [
            {
                "domain": "calendar",
                "reason": "fullSyncRequired",
                "message": "Sync token is no longer valid, a full sync is required.",
            }
        ],
        "code": 410,
        "message": "Sync token is no longer valid, a full sync is required.",
    }
}


async def test_expired_token_answers_410_then_full_sync_works(env: Env) -> None:
    cal = await env.new_calendar()
    seed_events(env, cal, 2)
    _, token = await env.pull(cal, **SYNC)
    assert env.emu.expire_sync_tokens(cal) == 1
    r = await env.list(cal, **SYNC, syncToken=token)
    assert r.status_code == 410 and r.json() == FULL_SYNC_BODY
    items, fresh = await env.pull(cal, **SYNC)
    assert len(items) == 2
    assert (await env.list(cal, **SYNC, syncToken=fresh)).status_code == 200
    assert (await env.list(cal, **SYNC, syncToken="garbage")).status_code == 410


async def test_sync_token_expired_fault_answers_410_once(env: Env) -> None:
    cal = await env.new_calendar()
    _, token = await env.pull(cal, **SYNC)
    env.emu.faults.add(FaultKind.SYNC_TOKEN_EXPIRED, times=1)
    first = await env.list(cal, **SYNC, syncToken=token)
    assert first.status_code == 410 and first.json() == FULL_SYNC_BODY
    # The token stays dead; a new one works and the fault is spent.
    assert (await env.list(cal, **SYNC, syncToken=token)).status_code == 410
    _, fresh = await env.pull(cal, **SYNC)
    assert (await env.list(cal, **SYNC, syncToken=fresh)).status_code == 200


async def test_bad_page_token(env: Env) -> None:
    cal = await env.new_calendar()
    seed_events(env, cal, 3)
    first = (await env.list(cal, **SYNC, maxResults="1")).json()
    r = await env.list(cal, singleEvents="true", maxResults="1", pageToken=first["nextPageToken"])
    assert r.status_code == 400
    assert (await env.list(cal, pageToken="nope")).status_code == 400


async def test_full_pull_filters(env: Env) -> None:
    cal = await env.new_calendar()
    env.emu.create_event(cal, timed(1, 9, summary="Standup"))
    tagged = env.emu.create_event(
        cal, timed(10, 9, summary="Review", extendedProperties={"private": {"bookingId": "7"}})
    )["id"]
    items, _ = await env.pull(cal, privateExtendedProperty="bookingId=7")
    assert [i["id"] for i in items] == [tagged]
    items, _ = await env.pull(cal, timeMin="2026-12-05T00:00:00Z")
    assert [i["id"] for i in items] == [tagged]
    items, _ = await env.pull(cal, q="standup")
    assert [i["summary"] for i in items] == ["Standup"]
    ordered = await env.list(cal, orderBy="startTime")
    assert ordered.status_code == 400  # needs singleEvents=true
