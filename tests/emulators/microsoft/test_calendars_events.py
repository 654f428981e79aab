"""/me, calendars and events CRUD: transactionId, changeKey, extended properties, zones."""

from __future__ import annotations

from typing import Any

import httpx2

from spacecal.emulators.microsoft import MicrosoftEmulator

PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name spacecalBookingId"


def _event(subject: str = "Stand-up", **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": "2026-11-23T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-23T11:00:00", "timeZone": "W. Europe Standard Time"},
        **extra,
    }


async def test_me_and_calendar_lifecycle(http: httpx2.AsyncClient, member: Any) -> None:
    me = (await http.get("/v1.0/me", headers=member.auth)).json()
    assert me["mail"] == member.email and me["userPrincipalName"] == member.email
    cals = (await http.get("/v1.0/me/calendars", headers=member.auth)).json()["value"]
    names = {c["name"]: c for c in cals}
    assert names["Calendar"]["isDefaultCalendar"] is True
    assert names["Meeting Room A"]["id"] == member.calendar_id
    assert member.calendar_id.startswith("AAMkAG") and len(member.calendar_id) > 80
    dup = await http.post(
        "/v1.0/me/calendars", json={"name": "meeting room a"}, headers=member.auth
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "ErrorFolderExists"
    renamed = await http.patch(
        f"/v1.0/me/calendars/{member.calendar_id}", json={"name": "Room A"}, headers=member.auth
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Room A"
    gone = await http.delete(f"/v1.0/me/calendars/{member.calendar_id}", headers=member.auth)
    assert gone.status_code == 204
    missing = await http.get(f"/v1.0/me/calendars/{member.calendar_id}", headers=member.auth)
    assert missing.status_code == 404
    assert set(missing.json()["error"]) == {"code", "message", "innerError"}


async def test_event_crud_changes_change_key(http: httpx2.AsyncClient, member: Any) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/events"
    created = await http.post(url, json=_event(), headers=member.auth)
    assert created.status_code == 201
    ev = created.json()
    assert ev["type"] == "singleInstance" and ev["subject"] == "Stand-up"
    # Graph answers in UTC without Prefer: 10:00 Berlin in November is 09:00 UTC.
    assert ev["start"] == {"dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC"}
    assert ev["originalStartTimeZone"] == "W. Europe Standard Time"
    patched = await http.patch(
        f"/v1.0/me/events/{ev['id']}", json={"subject": "Retro"}, headers=member.auth
    )
    assert patched.status_code == 200
    assert patched.json()["changeKey"] != ev["changeKey"]
    assert patched.json()["@odata.etag"] == f'W/"{patched.json()["changeKey"]}"'
    listed = (await http.get(url, headers=member.auth)).json()["value"]
    assert [e["subject"] for e in listed] == ["Retro"]
    assert (await http.delete(f"{url}/{ev['id']}", headers=member.auth)).status_code == 204
    assert (await http.get(f"/v1.0/me/events/{ev['id']}", headers=member.auth)).status_code == 404


async def test_transaction_id_creates_once(http: httpx2.AsyncClient, member: Any) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/events"
    first = await http.post(url, json=_event(transactionId="booking-17"), headers=member.auth)
    again = await http.post(url, json=_event(transactionId="booking-17"), headers=member.auth)
    other = await http.post(url, json=_event(transactionId="booking-18"), headers=member.auth)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    listed = (await http.get(url, headers=member.auth)).json()["value"]
    assert len(listed) == 2
    assert first.json()["transactionId"] == "booking-17"


async def test_extended_property_only_with_expand(http: httpx2.AsyncClient, member: Any) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/events"
    props = [{"id": PROP, "value": "booking-99"}]
    ev = (
        await http.post(url, json=_event(singleValueExtendedProperties=props), headers=member.auth)
    ).json()
    plain = (await http.get(f"/v1.0/me/events/{ev['id']}", headers=member.auth)).json()
    assert "singleValueExtendedProperties" not in plain
    expand = f"singleValueExtendedProperties($filter=id eq '{PROP}')"
    got = await http.get(
        f"/v1.0/me/events/{ev['id']}", params={"$expand": expand}, headers=member.auth
    )
    assert got.json()["singleValueExtendedProperties"] == props


async def test_prefer_outlook_timezone_and_unknown_zone(
    http: httpx2.AsyncClient, member: Any
) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/events"
    ev = (await http.post(url, json=_event(), headers=member.auth)).json()
    headers = {**member.auth, "Prefer": 'outlook.timezone="Pacific Standard Time"'}
    got = (await http.get(f"/v1.0/me/events/{ev['id']}", headers=headers)).json()
    assert got["start"] == {
        "dateTime": "2026-11-23T01:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    bad = _event()
    bad["start"]["timeZone"] = "Mars Standard Time"
    refused = await http.post(url, json=bad, headers=member.auth)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "TimeZoneNotSupportedException"


async def test_member_actions_are_visible_over_graph(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    from datetime import UTC, datetime

    ev = emu.create_event(
        member.email,
        member.calendar_id,
        "Walk-in",
        datetime(2026, 11, 24, 12, tzinfo=UTC),
        datetime(2026, 11, 24, 13, tzinfo=UTC),
    )
    emu.move_event(
        member.email,
        ev["id"],
        datetime(2026, 11, 24, 14, tzinfo=UTC),
        datetime(2026, 11, 24, 15, tzinfo=UTC),
    )
    got = (await http.get(f"/v1.0/me/events/{ev['id']}", headers=member.auth)).json()
    assert got["start"]["dateTime"] == "2026-11-24T14:00:00.0000000"
    emu.delete_event(member.email, ev["id"])
    assert (await http.get(f"/v1.0/me/events/{ev['id']}", headers=member.auth)).status_code == 404


async def test_calendar_scope_is_required(emu: MicrosoftEmulator, http: httpx2.AsyncClient) -> None:
    acc = emu.create_account("eve@example.com", scopes="openid User.Read")
    headers = {"Authorization": f"Bearer {acc['access_token']}"}
    assert (await http.get("/v1.0/me", headers=headers)).status_code == 200
    refused = await http.get("/v1.0/me/calendars", headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
