"""OAuth: consent page, PKCE, state, code single use, refresh, revoke, bearer checks."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
from tests.emulators.google.helpers import API, BASE, FULL, Env

from spacecal.emulators.common import FaultKind

CLIENT = "spacecal-test"
SECRET = "s3cret"
REDIRECT = "http://spacecal.test/oauth/google/callback"
VERIFIER = "v" * 50
CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


def authorize_params(**extra: str) -> dict[str, str]:
    params = {
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": f"openid email {FULL}",
        "state": "st-123",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "access_type": "offline",
    }
    params.update(extra)
    return params


async def consent(env: Env, decision: str = "allow", **extra: str) -> dict[str, list[str]]:
    """Open the consent page, submit its form, return the redirect's query."""
    page = await env.http.get(f"{BASE}/o/oauth2/v2/auth", params=authorize_params(**extra))
    assert page.status_code == 200, page.text
    request_id = re.search(r'name="request_id" value="([^"]+)"', page.text)
    assert request_id is not None
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    answer = await env.http.post(
        BASE + action.group(1),
        data={"request_id": request_id.group(1), "email": env.email, "decision": decision},
    )
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)


async def exchange(env: Env, code: str, verifier: str = VERIFIER) -> httpx2.Response:
    return await env.http.post(
        f"{BASE}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": CLIENT,
            "client_secret": SECRET,
            "code_verifier": verifier,
        },
    )


async def refresh(env: Env, token: str) -> httpx2.Response:
    return await env.http.post(
        f"{BASE}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": CLIENT,
            "client_secret": SECRET,
        },
    )


async def test_full_flow_pkce_state_and_tokens(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    query = await consent(env)
    assert query["state"] == ["st-123"]
    r = await exchange(env, query["code"][0])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["refresh_token"] and body["id_token"].count(".") == 2
    assert FULL in body["scope"].split()
    cal = await env.http.get(
        f"{API}/calendars/primary", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert cal.status_code == 200 and cal.json()["id"] == env.email
    # The code is single-use.
    again = await exchange(env, query["code"][0])
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Bad Request"}


async def test_pkce_verifier_is_checked(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    query = await consent(env)
    r = await exchange(env, query["code"][0], verifier="w" * 50)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_deny_redirects_with_access_denied(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    query = await consent(env, decision="deny")
    assert query == {"error": ["access_denied"], "state": ["st-123"]}


async def test_unregistered_redirect_uri_is_not_followed(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    page = await env.http.get(
        f"{BASE}/o/oauth2/v2/auth", params=authorize_params(redirect_uri="http://evil.test/cb")
    )
    assert page.status_code == 400 and "redirect_uri_mismatch" in page.text
    assert "location" not in page.headers


async def test_refresh_token_only_on_first_consent_unless_prompt_consent(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    first = (await exchange(env, (await consent(env))["code"][0])).json()
    second = (await exchange(env, (await consent(env))["code"][0])).json()
    third = (await exchange(env, (await consent(env, prompt="consent"))["code"][0])).json()
    online = (await exchange(env, (await consent(env, access_type="online"))["code"][0])).json()
    assert "refresh_token" in first
    assert "refresh_token" not in second
    assert "refresh_token" in third
    assert "refresh_token" not in online


async def test_refresh_grant_and_revocation(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    tokens = (await exchange(env, (await consent(env))["code"][0])).json()
    fresh = await refresh(env, tokens["refresh_token"])
    assert fresh.status_code == 200 and fresh.json()["access_token"] != tokens["access_token"]
    assert "refresh_token" not in fresh.json()  # Google does not rotate
    revoked = await env.http.post(f"{BASE}/revoke", data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    dead = await refresh(env, tokens["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    api = await env.http.get(
        f"{API}/users/me/calendarList",
        headers={"Authorization": f"Bearer {fresh.json()['access_token']}"},
    )
    assert api.status_code == 401 and api.json()["error"]["errors"][0]["reason"] == "authError"


async def test_wrong_client_secret_is_invalid_client(env: Env) -> None:
    env.emu.register_client(CLIENT, SECRET, [REDIRECT])
    r = await env.http.post(
        f"{BASE}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": env.refresh_token,
            "client_id": CLIENT,
            "client_secret": "nope",
        },
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def test_bearer_checks(env: Env) -> None:
    missing = await env.http.get(f"{API}/users/me/calendarList")
    assert missing.status_code == 401
    bad = await env.http.get(
        f"{API}/users/me/calendarList", headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    assert bad.json() == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "authError",
                    "message": "Invalid Credentials",
                    "locationType": "header",
                    "location": "Authorization",
                }
            ],
            "code": 401,
            "message": "Invalid Credentials",
            "status": "UNAUTHENTICATED",
        }
    }
    assert (await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)).status_code == 200
    env.emu.clock.advance(timedelta(seconds=3600))
    expired = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert (
        expired.status_code == 401 and expired.json()["error"]["errors"][0]["reason"] == "authError"
    )


async def test_revoke_consent_kills_tokens(env: Env) -> None:
    assert env.emu.revoke_consent(env.email) == 1
    r = await env.http.get(f"{API}/users/me/calendarList", headers=env.auth)
    assert r.status_code == 401
    dead = await env.http.post(
        f"{BASE}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": env.refresh_token,
            "client_id": "spacecal-emulator.apps.googleusercontent.com",
            "client_secret": "spacecal-emulator-secret",
        },
    )
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"


async def test_revoke_refresh_token_fault(env: Env) -> None:
    env.emu.faults.add(FaultKind.REVOKE_REFRESH_TOKEN, times=1)
    data = {
        "grant_type": "refresh_token",
        "refresh_token": env.refresh_token,
        "client_id": "spacecal-emulator.apps.googleusercontent.com",
        "client_secret": "spacecal-emulator-secret",
    }
    first = await env.http.post(f"{BASE}/token", data=data)
    second = await env.http.post(f"{BASE}/token", data=data)
    assert first.status_code == 400 and first.json()["error"] == "invalid_grant"
    assert second.status_code == 400  # revoked for good, not just once
