"""calendarView delta: paging, deltaLink rounds, @removed, resets, unsupported options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from spacecal.emulators.common import FaultKind
from spacecal.emulators.microsoft import MicrosoftEmulator

WINDOW = {"startDateTime": "2026-11-20T00:00:00Z", "endDateTime": "2026-12-21T00:00:00Z"}


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def _round(
    http: httpx2.AsyncClient, member: Any, link: str | None = None, page: int | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the end: (items, deltaLink, pages)."""
    headers = dict(member.auth)
    if page is not None:
        headers["Prefer"] = f"odata.maxpagesize={page}"
    if link is None:
        url = f"/v1.0/me/calendars/{member.calendar_id}/calendarView/delta"
        response = await http.get(url, params=WINDOW, headers=headers)
    else:
        response = await http.get(link, headers=headers)
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        items.extend(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return items, body["@odata.deltaLink"], pages
        response = await http.get(body["@odata.nextLink"], headers=headers)


def _seed(emu: MicrosoftEmulator, member: Any, n: int) -> list[str]:
    return [
        emu.create_event(member.email, member.calendar_id, f"b{i}", _at(22 + i), _at(22 + i, 11))[
            "id"
        ]
        for i in range(n)
    ]


async def test_paging_and_incremental_round(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    ids = _seed(emu, member, 5)
    items, delta_link, pages = await _round(http, member, page=2)
    assert pages == 3
    assert sorted(i["id"] for i in items) == sorted(ids)
    assert delta_link.startswith("http://microsoft.emulator.test/v1.0/me/calendars/")
    assert "$deltatoken=" in delta_link
    # Nothing changed: an empty round.
    empty, delta_link, _ = await _round(http, member, delta_link)
    assert empty == []
    emu.edit_event(member.email, ids[0], {"subject": "renamed"})
    emu.delete_event(member.email, ids[1])
    emu.move_event(
        member.email, ids[2], _at(30) + timedelta(days=40), _at(30, 11) + timedelta(days=40)
    )
    new = emu.create_event(member.email, member.calendar_id, "new", _at(29), _at(29, 11))["id"]
    changed, _, _ = await _round(http, member, delta_link)
    by_id = {i["id"]: i for i in changed}
    assert by_id[ids[0]]["subject"] == "renamed"
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}
    # Moved out of the window: reported as removed too.
    assert by_id[ids[2]]["@removed"] == {"reason": "deleted"}
    assert by_id[new]["subject"] == "new"
    assert set(by_id) == {ids[0], ids[1], ids[2], new}


async def test_changes_outside_window_come_as_removed_for_unknown_ids(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    _seed(emu, member, 1)
    _, delta_link, _ = await _round(http, member)
    far = emu.create_event(
        member.email,
        member.calendar_id,
        "far",
        _at(22) + timedelta(days=90),
        _at(22, 11) + timedelta(days=90),
    )["id"]
    items, _, _ = await _round(http, member, delta_link)
    assert items == [
        {"@odata.type": "#microsoft.graph.event", "id": far, "@removed": {"reason": "deleted"}}
    ]


async def test_delta_link_can_be_replayed(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    _seed(emu, member, 2)
    _, link, _ = await _round(http, member)
    extra = emu.create_event(member.email, member.calendar_id, "x", _at(25), _at(25, 11))["id"]
    first, _, _ = await _round(http, member, link)
    second, _, _ = await _round(http, member, link)
    assert [i["id"] for i in first] == [extra]
    assert [i["id"] for i in second] == [extra]


async def test_resets_answer_410_with_both_codes(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    _seed(emu, member, 3)
    _, link, _ = await _round(http, member)
    emu.reset_delta(member.email)
    gone = await http.get(link, headers=member.auth)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    items, link, _ = await _round(http, member)  # full resync returns everything again
    assert len(items) == 3
    emu.reset_delta(member.email, "resyncRequired")
    gone = await http.get(link, headers=member.auth)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "resyncRequired"


async def test_reset_also_kills_next_links(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    _seed(emu, member, 3)
    url = f"/v1.0/me/calendars/{member.calendar_id}/calendarView/delta"
    first = await http.get(
        url, params=WINDOW, headers={**member.auth, "Prefer": "odata.maxpagesize=1"}
    )
    assert first.headers["Preference-Applied"].endswith("odata.maxpagesize=1")
    emu.reset_delta(member.email)
    gone = await http.get(first.json()["@odata.nextLink"], headers=member.auth)
    assert gone.status_code == 410


async def test_sync_token_expired_fault(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    _seed(emu, member, 1)
    _, link, _ = await _round(http, member)
    emu.faults.add(FaultKind.SYNC_TOKEN_EXPIRED, times=1, code="resyncRequired")
    gone = await http.get(link, headers=member.auth)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "resyncRequired"


async def test_query_options_are_refused_and_window_required(
    http: httpx2.AsyncClient, member: Any
) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/calendarView/delta"
    for option in ("$select", "$expand", "$filter"):
        refused = await http.get(url, params={**WINDOW, option: "subject"}, headers=member.auth)
        assert refused.status_code == 400, option
        assert option in refused.json()["error"]["message"]
    no_window = await http.get(url, headers=member.auth)
    assert no_window.status_code == 400
    unknown = await http.get(url, params={"$deltatoken": "nope"}, headers=member.auth)
    assert unknown.status_code == 400


async def test_default_calendar_route_and_timezone_preference(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    emu.create_event(member.email, None, "default", _at(23), _at(23, 11))
    headers = {**member.auth, "Prefer": 'outlook.timezone="Tokyo Standard Time"'}
    response = await http.get("/v1.0/me/calendarView/delta", params=WINDOW, headers=headers)
    body = response.json()
    assert [i["subject"] for i in body["value"]] == ["default"]
    assert body["value"][0]["start"] == {
        "dateTime": "2026-11-23T19:00:00.0000000",
        "timeZone": "Tokyo Standard Time",
    }
    assert body["@odata.deltaLink"].startswith(
        "http://microsoft.emulator.test/v1.0/me/calendarView/delta?"
    )


async def test_order_within_a_round_is_reproducible_from_the_seed(
    peer: Any,
) -> None:
    from spacecal.emulators.common import EmulatorClock

    orders = []
    for _ in range(2):
        emu = MicrosoftEmulator(seed=99, clock=EmulatorClock(_at(21), frozen=True))
        acc = emu.create_account("rep@example.com")
        cal = emu.create_calendar("rep@example.com", "Desk 4")["id"]
        for i in range(6):
            emu.create_event("rep@example.com", cal, f"e{i}", _at(22 + i), _at(22 + i, 11))
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=emu.app), base_url=emu.base_url
        ) as client:
            response = await client.get(
                f"/v1.0/me/calendars/{cal}/calendarView/delta",
                params=WINDOW,
                headers={"Authorization": f"Bearer {acc['access_token']}"},
            )
        orders.append([i["subject"] for i in response.json()["value"]])
        await emu.aclose()
    assert orders[0] == orders[1]
    assert sorted(orders[0]) == [f"e{i}" for i in range(6)]
