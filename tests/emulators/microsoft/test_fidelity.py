"""Issue 18 items 4-8 and the calendarView range limit: the OpenID configuration
document, the nonce in the id_token, the SDK's delta paths, fractional seconds in
subscription expirations, reauthorize's 204, and 400 beyond 1,825 days."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from tests.emulators.microsoft.conftest import BASE, NOW
from tests.emulators.microsoft.test_identity import AUTHORIZE, _exchange, _params
from tests.emulators.microsoft.test_subscriptions import _body

from spacecal.emulators.microsoft import MicrosoftEmulator


def _claims(id_token: str) -> dict[str, Any]:
    part = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.mark.parametrize("tenant", ["common", "organizations"])
async def test_openid_configuration_document(http: httpx2.AsyncClient, tenant: str) -> None:
    r = await http.get(f"/{tenant}/v2.0/.well-known/openid-configuration")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["authorization_endpoint"] == f"{BASE}/{tenant}/oauth2/v2.0/authorize"
    assert doc["token_endpoint"] == f"{BASE}/{tenant}/oauth2/v2.0/token"
    assert doc["issuer"] == "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert "S256" not in doc and "code" in doc["response_types_supported"]


async def test_openid_configuration_of_a_tenant_names_it(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient
) -> None:
    tenant = emu.identity.tenant_id
    doc = (await http.get(f"/{tenant}/v2.0/.well-known/openid-configuration")).json()
    assert doc["issuer"] == f"https://login.microsoftonline.com/{tenant}/v2.0"


async def test_nonce_is_carried_into_the_id_token(http: httpx2.AsyncClient) -> None:
    params = _params(nonce="n-0S6_WzA2Mj")
    answer = await http.post(
        AUTHORIZE, data={**params, "login": "bob@example.com", "decision": "accept"}
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    body = (await _exchange(http, code)).json()
    assert _claims(body["id_token"])["nonce"] == "n-0S6_WzA2Mj"


@pytest.mark.parametrize("name", ["delta", "delta()", "microsoft.graph.delta"])
async def test_delta_answers_on_every_name_graph_gives_it(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient, member: Any, name: str
) -> None:
    made = emu.create_event(
        member.email,
        member.calendar_id,
        "x",
        NOW + timedelta(days=1),
        NOW + timedelta(days=1, hours=1),
    )
    window = {"startDateTime": "2026-11-20T00:00:00Z", "endDateTime": "2026-12-21T00:00:00Z"}
    path = f"/v1.0/me/calendars/{member.calendar_id}/calendarView/{name}"
    r = await http.get(path, params=window, headers=member.auth)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["value"]] == [made["id"]]
    link = r.json()["@odata.deltaLink"]
    assert f"/calendarView/{name}?" in link
    assert (await http.get(link, headers=member.auth)).json()["value"] == []
    # The default calendar's view (nothing in it) answers on the same names.
    default = await http.get(f"/v1.0/me/calendarView/{name}", params=window, headers=member.auth)
    assert default.status_code == 200 and default.json()["value"] == []


@pytest.mark.parametrize("fraction", [".783086+00:00", ".7918070Z", ".5Z", ".123456789-02:00", "Z"])
async def test_expiration_with_fractional_seconds(
    http: httpx2.AsyncClient, member: Any, fraction: str
) -> None:
    stamp = (NOW + timedelta(minutes=120)).strftime("%Y-%m-%dT%H:%M:%S") + fraction
    created = await http.post(
        "/v1.0/subscriptions", json=_body(member, expirationDateTime=stamp), headers=member.auth
    )
    assert created.status_code == 201, created.text
    renewed = await http.patch(
        f"/v1.0/subscriptions/{created.json()['id']}",
        json={"expirationDateTime": stamp},
        headers=member.auth,
    )
    assert renewed.status_code == 200, renewed.text


async def test_reauthorize_is_204_no_content(http: httpx2.AsyncClient, member: Any) -> None:
    sub = (await http.post("/v1.0/subscriptions", json=_body(member), headers=member.auth)).json()
    r = await http.post(f"/v1.0/subscriptions/{sub['id']}/reauthorize", headers=member.auth)
    assert r.status_code == 204 and r.content == b""


@pytest.mark.parametrize("kind", ["calendarView", "calendarView/delta"])
async def test_view_longer_than_1825_days_is_refused_like_graph(
    http: httpx2.AsyncClient, member: Any, kind: str
) -> None:
    url = f"/v1.0/me/calendars/{member.calendar_id}/{kind}"
    start = NOW.replace(hour=0)
    ok = {
        "startDateTime": start.isoformat(),
        "endDateTime": (start + timedelta(days=1825)).isoformat(),
    }
    assert (await http.get(url, params=ok, headers=member.auth)).status_code == 200
    long = {**ok, "endDateTime": (start + timedelta(days=1825, seconds=1)).isoformat()}
    r = await http.get(url, params=long, headers=member.auth)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "ErrorInvalidRequest"
    assert error["message"].endswith("Maximum number of days: 1825")
    assert "request-id" in error["innerError"]
