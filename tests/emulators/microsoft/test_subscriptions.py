"""Subscriptions: validation handshake (success and failure modes), lifetimes, 409, CRUD."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from spacecal.emulators.microsoft import MicrosoftEmulator

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
HOOK = "http://client.test/hooks/ms"
LIFECYCLE = "http://client.test/hooks/ms-lifecycle"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _body(member: Any, minutes: int = 4000, **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": HOOK,
        "lifecycleNotificationUrl": LIFECYCLE,
        "resource": f"me/calendars/{member.calendar_id}/events",
        "expirationDateTime": _iso(NOW + timedelta(minutes=minutes)),
        "clientState": "secret-1",
        **extra,
    }


async def test_create_validates_both_urls_and_lists(
    http: httpx2.AsyncClient, member: Any, peer: Any
) -> None:
    created = await http.post("/v1.0/subscriptions", json=_body(member), headers=member.auth)
    assert created.status_code == 201, created.text
    sub = created.json()
    assert sub["expirationDateTime"].startswith("2026-11-24T03:40:00")
    assert sub["clientState"] == "secret-1" and sub["changeType"] == "created,updated,deleted"
    assert peer.validations == ["/hooks/ms", "/hooks/ms-lifecycle"]
    listed = (await http.get("/v1.0/subscriptions", headers=member.auth)).json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("wrong", "Response must exactly match validationToken"),
        ("encoded", "Response must exactly match validationToken"),
        ("slow", "Subscription validation request timed out."),
        ("forbidden", "HTTP status code is 'Forbidden'"),
    ],
)
async def test_validation_failures_answer_400(
    http: httpx2.AsyncClient, member: Any, peer: Any, mode: str, message: str
) -> None:
    peer.validation_mode = mode
    refused = await http.post("/v1.0/subscriptions", json=_body(member), headers=member.auth)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "ValidationError" and message in error["message"]
    assert (await http.get("/v1.0/subscriptions", headers=member.auth)).json()["value"] == []


async def test_floor_maximum_and_settable_maximum(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    short = await http.post(
        "/v1.0/subscriptions", json=_body(member, minutes=5), headers=member.auth
    )
    assert short.status_code == 201
    assert short.json()["expirationDateTime"].startswith("2026-11-21T09:45:00")
    await http.delete(f"/v1.0/subscriptions/{short.json()['id']}", headers=member.auth)
    too_long = await http.post(
        "/v1.0/subscriptions", json=_body(member, minutes=10081), headers=member.auth
    )
    assert too_long.status_code == 400
    assert "10080 minutes" in too_long.json()["error"]["message"]
    at_max = await http.post(
        "/v1.0/subscriptions", json=_body(member, minutes=10080), headers=member.auth
    )
    assert at_max.status_code == 201
    await http.delete(f"/v1.0/subscriptions/{at_max.json()['id']}", headers=member.auth)
    emu.set_subscription_limits(maximum_minutes=4230)
    older = await http.post(
        "/v1.0/subscriptions", json=_body(member, minutes=5000), headers=member.auth
    )
    assert older.status_code == 400 and "4230 minutes" in older.json()["error"]["message"]


async def test_duplicate_is_409(http: httpx2.AsyncClient, member: Any) -> None:
    assert (
        await http.post("/v1.0/subscriptions", json=_body(member), headers=member.auth)
    ).status_code == 201
    again = await http.post("/v1.0/subscriptions", json=_body(member), headers=member.auth)
    assert again.status_code == 409
    # Another changeType set on the same calendar is a different subscription.
    other = await http.post(
        "/v1.0/subscriptions", json=_body(member, changeType="deleted"), headers=member.auth
    )
    assert other.status_code == 201


async def test_renew_reauthorize_delete_and_unknown_ids(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    sub = (
        await http.post("/v1.0/subscriptions", json=_body(member, minutes=60), headers=member.auth)
    ).json()
    renewed = await http.patch(
        f"/v1.0/subscriptions/{sub['id']}",
        json={"expirationDateTime": _iso(NOW + timedelta(minutes=3000))},
        headers=member.auth,
    )
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"].startswith("2026-11-23T11:00:00")
    reauth = await http.post(f"/v1.0/subscriptions/{sub['id']}/reauthorize", headers=member.auth)
    assert reauth.status_code == 204 and reauth.content == b""
    unknown = await http.patch(
        "/v1.0/subscriptions/00000000-0000-4000-8000-000000000000",
        json={"expirationDateTime": _iso(NOW + timedelta(minutes=3000))},
        headers=member.auth,
    )
    assert unknown.status_code == 404
    assert (
        await http.delete(f"/v1.0/subscriptions/{sub['id']}", headers=member.auth)
    ).status_code == 204
    assert (
        await http.delete(f"/v1.0/subscriptions/{sub['id']}", headers=member.auth)
    ).status_code == 404


async def test_expired_subscription_disappears(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any
) -> None:
    sub = (
        await http.post("/v1.0/subscriptions", json=_body(member, minutes=60), headers=member.auth)
    ).json()
    emu.clock.advance(timedelta(minutes=61))
    emu.identity.access_token_lifetime = timedelta(days=1)
    fresh = emu.issue_tokens(member.email)
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await http.get(f"/v1.0/subscriptions/{sub['id']}", headers=headers)).status_code == 404
