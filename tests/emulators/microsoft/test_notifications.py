"""Change notifications (batching, clientState, duplicates, retries) and lifecycle events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from spacecal.emulators.microsoft import MicrosoftEmulator

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
HOOK = "http://client.test/hooks/ms"
LIFECYCLE = "http://client.test/hooks/ms-lifecycle"


async def _subscribe(http: httpx2.AsyncClient, member: Any, calendar_id: str, state: str) -> str:
    created = await http.post(
        "/v1.0/subscriptions",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": HOOK,
            "lifecycleNotificationUrl": LIFECYCLE,
            "resource": f"me/calendars/{calendar_id}/events",
            "expirationDateTime": (NOW + timedelta(days=2)).isoformat(),
            "clientState": state,
        },
        headers=member.auth,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


async def test_batched_across_subscriptions_with_client_state(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    other_cal = emu.create_calendar(member.email, "Desk 7")["id"]
    sub_a = await _subscribe(http, member, member.calendar_id, "state-a")
    sub_b = await _subscribe(http, member, other_cal, "state-b")
    # Two writes in the same turn on two calendars -> one POST carrying both subscriptions.
    ev_a = emu.create_event(member.email, member.calendar_id, "a", _at(23), _at(23, 11))
    ev_b = emu.create_event(member.email, other_cal, "b", _at(24), _at(24, 11))
    await emu.drain()
    first_body = peer.notifications[0][1]["value"]
    assert {(i["subscriptionId"], i["changeType"]) for i in first_body} == {
        (sub_a, "created"),
        (sub_b, "created"),
    }
    item = next(i for i in first_body if i["subscriptionId"] == sub_a)
    assert item["clientState"] == "state-a"
    assert item["resourceData"]["id"] == ev_a["id"]
    assert item["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert item["resourceData"]["@odata.id"] == item["resource"]
    assert item["tenantId"] == emu.identity.tenant_id
    assert item["subscriptionExpirationDateTime"].startswith("2026-11-23T09:00:00")
    # The duplicate "updated" for each creation follows in the next batch.
    second_body = peer.notifications[1][1]["value"]
    assert {(i["resourceData"]["id"], i["changeType"]) for i in second_body} == {
        (ev_a["id"], "updated"),
        (ev_b["id"], "updated"),
    }


async def test_updates_and_deletes_notify(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    ev = emu.create_event(member.email, member.calendar_id, "a", _at(23), _at(23, 11))
    await _subscribe(http, member, member.calendar_id, "s")
    await http.patch(f"/v1.0/me/events/{ev['id']}", json={"subject": "b"}, headers=member.auth)
    await emu.drain()
    await http.delete(f"/v1.0/me/events/{ev['id']}", headers=member.auth)
    await emu.drain()
    assert [i["changeType"] for i in peer.items()] == ["updated", "deleted"]
    # Another calendar's events do not notify this subscription.
    emu.create_event(member.email, None, "elsewhere", _at(25), _at(25, 11))
    await emu.drain()
    assert len(peer.items()) == 2


async def test_slow_answer_counts_as_failed_and_is_retried(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    await _subscribe(http, member, member.calendar_id, "s")
    peer.slow_notifications = 1
    peer.slow_seconds = 0.4  # the test budget is 0.2 s
    emu.create_event(member.email, member.calendar_id, "a", _at(23), _at(23, 11))
    await emu.drain()
    outcomes = [
        (r.attempt, r.outcome)
        for r in emu.notifications(member.email)
        if r.extra.get("kind") != "validation"
    ]
    assert outcomes[0] == (1, "retrying")
    assert (2, "delivered") in outcomes
    # The retried "created" is overtaken by its "updated" twin: order is not guaranteed.
    assert sorted(i["changeType"] for i in peer.items()) == ["created", "updated"]


async def test_error_answers_are_retried_until_attempts_run_out(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    await _subscribe(http, member, member.calendar_id, "s")
    peer.notification_status = 400
    emu.delete_event(
        member.email,
        emu.create_event(member.email, member.calendar_id, "a", _at(23), _at(23, 11))["id"],
    )
    await emu.drain()
    records = [r for r in emu.notifications() if r.extra.get("kind") != "validation"]
    assert records[-1].outcome == "failed"
    assert max(r.attempt for r in records) == 5


async def test_lifecycle_events(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    sub = await _subscribe(http, member, member.calendar_id, "s")
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        assert emu.trigger_lifecycle(sub, event)["sent"] is True
    await emu.drain()
    items = peer.items("/hooks/ms-lifecycle")
    assert [i["lifecycleEvent"] for i in items] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    assert {i["subscriptionId"] for i in items} == {sub}
    assert all(i["clientState"] == "s" and "subscriptionExpirationDateTime" in i for i in items)
    # subscriptionRemoved really removes it.
    assert (await http.get(f"/v1.0/subscriptions/{sub}", headers=member.auth)).status_code == 404


async def test_control_api_triggers_lifecycle(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    sub = await _subscribe(http, member, member.calendar_id, "s")
    answer = await http.post(
        f"/_control/microsoft/subscriptions/{sub}/lifecycle", json={"event": "missed"}
    )
    assert answer.status_code == 200
    assert (await http.post("/_control/drain")).status_code == 200
    assert [i["lifecycleEvent"] for i in peer.items("/hooks/ms-lifecycle")] == ["missed"]
    bad = await http.post(f"/_control/microsoft/subscriptions/{sub}/lifecycle", json={"event": "x"})
    assert bad.status_code == 400
