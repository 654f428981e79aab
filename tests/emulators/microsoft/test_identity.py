"""Identity platform: authorize page, PKCE code exchange, refresh rotation, AADSTS errors."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx2

from spacecal.emulators.common import FaultKind
from spacecal.emulators.microsoft import MicrosoftEmulator

AUTHORIZE = "/common/oauth2/v2.0/authorize"
TOKEN = "/common/oauth2/v2.0/token"
REDIRECT = "http://spacecal.test/connect/microsoft/callback"
VERIFIER = "a-very-long-code-verifier-of-the-right-length-0123456789abcdef"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _params(**extra: str) -> dict[str, str]:
    return {
        "client_id": "app-1",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid email offline_access User.Read Calendars.ReadWrite",
        "state": "st-42",
        "code_challenge": _challenge(VERIFIER),
        "code_challenge_method": "S256",
        **extra,
    }


async def _consent(http: httpx2.AsyncClient, decision: str = "accept") -> dict[str, list[str]]:
    page = await http.get(AUTHORIZE, params=_params())
    assert page.status_code == 200
    assert "Calendars.ReadWrite" in page.text and 'name="login"' in page.text
    answer = await http.post(
        AUTHORIZE, data={**_params(), "login": "bob@example.com", "decision": decision}
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def _exchange(
    http: httpx2.AsyncClient, code: str, verifier: str = VERIFIER
) -> httpx2.Response:
    return await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "client_id": "app-1",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )


async def _refresh(http: httpx2.AsyncClient, token: str) -> httpx2.Response:
    return await http.post(
        TOKEN, data={"grant_type": "refresh_token", "client_id": "app-1", "refresh_token": token}
    )


async def test_consent_then_code_exchange_gives_working_tokens(http: httpx2.AsyncClient) -> None:
    query = await _consent(http)
    assert query["state"] == ["st-42"]
    answer = await _exchange(http, query["code"][0])
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["refresh_token"] and body["id_token"].count(".") == 2
    me = await http.get("/v1.0/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["mail"] == "bob@example.com"


async def test_deny_redirects_with_access_denied(http: httpx2.AsyncClient) -> None:
    query = await _consent(http, decision="deny")
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st-42"]
    assert "code" not in query


async def test_wrong_pkce_verifier_and_code_reuse_are_invalid_grant(
    http: httpx2.AsyncClient,
) -> None:
    code = (await _consent(http))["code"][0]
    bad = await _exchange(http, code, verifier="not-the-verifier-" + "x" * 40)
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"] == "invalid_grant"
    assert body["error_codes"] == [501481]
    assert body["error_description"].startswith("AADSTS501481:")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    assert (await _exchange(http, code)).status_code == 200
    again = await _exchange(http, code)
    assert again.status_code == 400 and again.json()["error_codes"] == [54005]


async def test_authorize_without_redirect_uri_is_an_error_page(http: httpx2.AsyncClient) -> None:
    params = _params()
    del params["redirect_uri"]
    page = await http.get(AUTHORIZE, params=params)
    assert page.status_code == 400 and "AADSTS900144" in page.text


async def test_refresh_rotates_and_old_tokens_die_when_told(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient
) -> None:
    code = (await _consent(http))["code"][0]
    first = (await _exchange(http, code)).json()["refresh_token"]
    second_body = (await _refresh(http, first)).json()
    second = second_body["refresh_token"]
    assert second != first and second_body["access_token"]
    # Like the real service, the previous refresh token still works until invalidated.
    third = (await _refresh(http, first)).json()["refresh_token"]
    assert len({first, second, third}) == 3
    assert emu.invalidate_old_refresh_tokens("bob@example.com") == 2
    dead = await _refresh(http, second)
    assert dead.status_code == 400
    assert dead.json()["error"] == "invalid_grant"
    assert dead.json()["error_codes"] == [50173]
    assert (await _refresh(http, third)).status_code == 200


async def test_revoked_consent_kills_refresh_and_access_tokens(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient
) -> None:
    code = (await _consent(http))["code"][0]
    tokens = (await _exchange(http, code)).json()
    emu.revoke_consent("bob@example.com")
    refused = await _refresh(http, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error_codes"] == [65001]
    me = await http.get("/v1.0/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    assert me.json()["error"]["code"] == "InvalidAuthenticationToken"


async def test_expired_access_token_answers_401_lifetime(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient
) -> None:
    acc = emu.create_account("cy@example.com")
    emu.expire_access_tokens("cy@example.com")
    me = await http.get("/v1.0/me", headers={"Authorization": f"Bearer {acc['access_token']}"})
    assert me.status_code == 401
    assert "Lifetime validation failed" in me.json()["error"]["message"]
    missing = await http.get("/v1.0/me")
    assert missing.json()["error"]["message"] == "Access token is empty."


async def test_revoke_refresh_token_fault_answers_invalid_grant_once(
    emu: MicrosoftEmulator, http: httpx2.AsyncClient
) -> None:
    acc = emu.create_account("dee@example.com", client_id="app-1")
    emu.faults.add(FaultKind.REVOKE_REFRESH_TOKEN, times=1)
    refused = await _refresh(http, acc["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    calls = emu.calls.list(path_prefix=TOKEN)
    assert calls[-1].account == "dee@example.com" and calls[-1].status == 400
