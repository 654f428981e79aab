"""OAuth through the emulators like a browser would, and AccountSession's refresh
rules: proactive refresh, 401 -> one refresh + one retry, rotation saved before use,
invalid_grant -> ConsentRevoked with a bounded number of token calls."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.providers.harness import EMAIL, NOW, REDIRECT, Env, consent_like_a_browser, pkce_pair

from spacecal.providers.base import ConsentRevoked, ProviderError, TokenSet
from spacecal.providers.http import Unauthorized
from spacecal.providers.session import AccountSession


async def test_code_exchange_with_pkce_and_state(env: Env) -> None:
    verifier, challenge = pkce_pair()
    url = env.provider.authorize_url(state="st-42", code_challenge=challenge, redirect_uri=REDIRECT)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    if env.name == "google":
        assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
        assert query["scope"] == [
            "openid email https://www.googleapis.com/auth/calendar.app.created"
        ]
    else:
        assert "/common/oauth2/v2.0/authorize" in url
        assert query["scope"] == ["openid email offline_access User.Read Calendars.ReadWrite"]
    answer = await consent_like_a_browser(env.http, url, "bob@example.com")
    assert answer["state"] == "st-42"
    tokens, who = await env.provider.exchange_code(
        code=answer["code"], code_verifier=verifier, redirect_uri=REDIRECT
    )
    assert who.email == "bob@example.com" and who.subject
    assert tokens.refresh_token and tokens.expires_at > NOW
    assert tokens.access_token not in repr(tokens)
    made = await env.provider.create_calendar(tokens.access_token, "Desk 7", "Europe/Paris")
    assert made.id in [c.id for c in await env.provider.list_calendars(tokens.access_token)]
    # The code is single use, and a used code is not "consent revoked".
    with pytest.raises(ProviderError) as used:
        await env.provider.exchange_code(
            code=answer["code"], code_verifier=verifier, redirect_uri=REDIRECT
        )
    assert not isinstance(used.value, ConsentRevoked)
    assert answer["code"] not in str(used.value)


async def test_wrong_pkce_verifier_is_refused(env: Env) -> None:
    _, challenge = pkce_pair()
    url = env.provider.authorize_url(state="s", code_challenge=challenge, redirect_uri=REDIRECT)
    answer = await consent_like_a_browser(env.http, url, EMAIL)
    with pytest.raises(ProviderError):
        await env.provider.exchange_code(
            code=answer["code"], code_verifier="w" * 64, redirect_uri=REDIRECT
        )


async def test_denied_consent_redirects_with_state(env: Env) -> None:
    _, challenge = pkce_pair()
    url = env.provider.authorize_url(state="s-9", code_challenge=challenge, redirect_uri=REDIRECT)
    answer = await consent_like_a_browser(env.http, url, EMAIL, accept=False)
    assert answer["error"] == "access_denied" and answer["state"] == "s-9"


class Saver:
    def __init__(self) -> None:
        self.saved: list[TokenSet] = []

    async def __call__(self, tokens: TokenSet) -> None:
        self.saved.append(tokens)


async def test_session_refreshes_when_missing_or_expiring(env: Env) -> None:
    saver = Saver()
    session = AccountSession(env.provider, env.refresh, on_tokens=saver)
    await session.call(env.provider.list_calendars)
    assert len(saver.saved) == 1 and session.refreshes == 1
    await session.call(env.provider.list_calendars)
    assert len(saver.saved) == 1  # still fresh: no second refresh
    # Within the margin of expiry: refreshed ahead of time.
    soon = AccountSession(
        env.provider,
        env.refresh,
        env.access,
        NOW + timedelta(minutes=2),
        on_tokens=saver,
        refresh_margin=timedelta(minutes=5),
    )
    await soon.call(env.provider.list_calendars)
    assert len(saver.saved) == 2


async def test_401_refreshes_once_and_retries_once(env: Env) -> None:
    saver = Saver()
    session = AccountSession(
        env.provider, env.refresh, env.access, NOW + timedelta(hours=1), on_tokens=saver
    )
    env.expire_access_token()
    before = env.api_calls("calendar")
    listed = await session.call(env.provider.list_calendars)
    assert [c.id for c in listed] == [env.calendar_id]
    assert len(saver.saved) == 1 and env.token_calls() == 1
    assert env.api_calls("calendar") - before == 2  # the 401, then the retry


async def test_rotated_refresh_token_is_saved_before_use(env: Env) -> None:
    saver = Saver()
    session = AccountSession(env.provider, env.refresh, on_tokens=saver)
    await session.call(env.provider.list_calendars)
    first = saver.saved[0]
    if env.name == "google":
        assert first.refresh_token is None  # Google does not rotate: keep the old one
        return
    assert first.refresh_token and first.refresh_token != env.refresh
    env.emu.invalidate_old_refresh_tokens(env.email)  # only the newest one works now
    env.expire_access_token()
    await session.call(env.provider.list_calendars)
    assert len(saver.saved) == 2 and saver.saved[1].refresh_token != first.refresh_token
    # The original refresh token is dead; the saved one was the one used.
    with pytest.raises(ConsentRevoked):
        await env.provider.refresh(env.refresh)


async def test_invalid_grant_is_consent_revoked_without_looping(env: Env) -> None:
    saver = Saver()
    session = AccountSession(
        env.provider, env.refresh, env.access, NOW + timedelta(hours=1), on_tokens=saver
    )
    env.revoke_consent()
    with pytest.raises(ConsentRevoked) as caught:
        await session.call(env.provider.list_calendars)
    assert env.token_calls() == 1 and saver.saved == []
    assert env.refresh not in str(caught.value) and env.access not in str(caught.value)
    with pytest.raises(ConsentRevoked):
        await session.call(env.provider.list_calendars)
    assert env.token_calls() == 2  # one per call, never a loop


async def test_second_401_after_refresh_propagates(env: Env) -> None:
    """A token that is refused even right after a refresh is not retried again."""
    saver = Saver()
    session = AccountSession(
        env.provider, env.refresh, env.access, NOW + timedelta(hours=1), on_tokens=saver
    )
    calls = 0

    async def always_401(access: str) -> None:
        nonlocal calls
        calls += 1
        raise Unauthorized("HTTP 401", status=401)

    with pytest.raises(Unauthorized):
        await session.call(always_401)
    assert calls == 2 and env.token_calls() == 1


async def test_concurrent_calls_share_one_refresh(env: Env) -> None:
    import asyncio

    saver = Saver()
    session = AccountSession(env.provider, env.refresh, on_tokens=saver)
    results = await asyncio.gather(*(session.call(env.provider.list_calendars) for _ in range(5)))
    assert all(len(r) == 1 for r in results)
    assert len(saver.saved) == 1 and env.token_calls() == 1
