"""No token ever leaves spacecal in a response, a log line or an error page, and the
provider tokens in the database are unreadable without the key.

One full scenario: both providers connected through the consent pages, resources
added, events synced both ways, access tokens killed so spacecal refreshes (rotated
tokens), provider 5xx faults, revoked Microsoft consent (needs reconnect), an API
password grant and a refresh grant, error pages. Every token the emulators issued
(access, refresh, id), spacecal's own Bearer and refresh tokens, the channel tokens and
clientStates, and the PKCE verifiers are then searched for in every response spacecal
produced (headers and body) and every log record of every logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from datetime import timedelta

import httpx2
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tests.support.bookings import tomorrow_at
from tests.support.channel_secrets import all_channel_secrets
from tests.support.environments import SyncEnv
from tests.support.portal import GOOGLE, MICROSOFT, PASSWORD

from spacecal.crypto import KeyConfigurationError, TokenCipher
from spacecal.db.models import OAuthState, ProviderAccount, SubscriptionGeneration

MIN_SECRET = 16  # every token here is far longer; shorter strings could match by chance


@dataclass
class Seen:
    """One response spacecal produced."""

    method: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def text(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers)
        return f"{self.status}\n{head}\n\n{self.body.decode('utf-8', 'replace')}"


@dataclass
class Recorder:
    """ASGI middleware on spacecal: keeps every response it sends."""

    app: ASGIApp
    seen: list[Seen] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = Seen(scope["method"], scope["path"], 0, [], b"")
        self.seen.append(entry)

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                entry.headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                entry.body += message.get("body", b"")
            await send(message)

        await self.app(scope, receive, record)


RECORDERS: list[Recorder] = []


def recording(app: ASGIApp) -> Recorder:
    recorder = Recorder(app)
    RECORDERS.append(recorder)
    return recorder


def log_text(record: logging.LogRecord) -> str:
    """Everything a handler could write: message, arguments, extras, traceback."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in record.__dict__.items() if k not in ("msg", "args")]
    if record.exc_info:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


@dataclass
class Issued:
    provider: set[str] = field(default_factory=set)  # access, refresh and id tokens
    spacecal: set[str] = field(default_factory=set)  # API tokens, channel secrets, PKCE

    def all(self) -> set[str]:
        return {t for t in self.provider | self.spacecal if len(t) >= MIN_SECRET}


async def _watch_token_endpoints(s: SyncEnv, issued: Issued) -> httpx2.AsyncClient:
    """spacecal's provider client, with a hook that notes every token the emulators'
    token endpoints hand out (the exchange and every refresh)."""

    async def note(response: httpx2.Response) -> None:
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            return
        if isinstance(body, dict):
            for key in ("access_token", "refresh_token", "id_token"):
                if isinstance(body.get(key), str):
                    issued.provider.add(body[key])

    client = httpx2.AsyncClient(
        mounts={
            GOOGLE: httpx2.ASGITransport(app=s.env.google.app),
            MICROSOFT: httpx2.ASGITransport(app=s.env.microsoft.app),
        },
        timeout=30,
        event_hooks={"response": [note]},
    )
    s.env.rt.use_http(client)
    return client


def _emulator_tokens(s: SyncEnv) -> set[str]:
    """Every token the emulators still know, issued to anyone (a superset)."""
    google = s.env.google.store
    identity = s.env.microsoft.identity
    return (
        set(google.access_tokens)
        | set(google.refresh_tokens)
        | set(identity._access)
        | set(identity._refresh)
    )


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger propagates to it
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
    return caplog


async def test_no_token_in_any_response_log_or_error_page(
    sync_env: SyncEnv, all_logs: pytest.LogCaptureFixture
) -> None:
    s = sync_env
    env = s.env
    # Outermost, around spacecal's own outer layers (spacecal/app.py `SpacecalAPI`), so the
    # provider webhooks' fast path is recorded too.
    build = env.app.build_middleware_stack
    env.app.build_middleware_stack = lambda: recording(build())  # type: ignore[method-assign]
    env.app.middleware_stack = None
    issued = Issued()
    provider_http = await _watch_token_endpoints(s, issued)
    try:
        await _scenario(s, issued)
    finally:
        await provider_http.aclose()

    issued.provider |= _emulator_tokens(s)
    async with s.engine.connect() as conn:
        issued.spacecal |= set(await conn.scalars(select(SubscriptionGeneration.secret)))
        issued.spacecal |= set(all_channel_secrets(s.env).values())  # the clear ones too
        for encrypted in await conn.scalars(select(OAuthState.code_verifier_enc)):
            issued.spacecal.add(s.env.rt.db.cipher.decrypt(encrypted))
    assert len([t for t in issued.provider if len(t) >= MIN_SECRET]) >= 8, issued.provider
    assert len(issued.spacecal) >= 6, issued.spacecal  # tokens, 2+ secrets, 2 verifiers

    responses = [r for rec in RECORDERS for r in rec.seen]
    assert len(responses) > 50  # the scenario really went through spacecal
    assert any(r.status >= 400 for r in responses)  # and through its error pages
    token_grants = [r for r in responses if r.path == "/api/token" and r.status == 200]
    assert len(token_grants) == 2
    leaks: list[str] = []
    for response in responses:
        body = response.text()
        allowed: set[str] = set()
        if response in token_grants:
            # The one response that issues a pair may carry it, and nothing else.
            allowed = set(json.loads(response.body).values()) & issued.spacecal
        for secret in issued.all() - allowed:
            if secret in body:
                leaks.append(f"{response.method} {response.path} -> {response.status}")
    assert not leaks, leaks

    assert len(all_logs.records) > 20
    for record in all_logs.records:
        line = log_text(record)
        for secret in issued.all():
            assert secret not in line, f"{record.name}: {record.getMessage()[:200]}"

    await _tokens_are_unreadable_without_the_key(s, issued)


async def _scenario(s: SyncEnv, issued: Issued) -> None:
    env = s.env
    google = await s.connect("google")
    microsoft = await s.connect("microsoft")
    await s.settle()
    start = tomorrow_at(9)
    google.create("From Google", start, start + timedelta(hours=1))
    microsoft.create("From Outlook", start + timedelta(hours=2), start + timedelta(hours=3))
    await s.settle()
    made = await env.api.post(
        "/api/spaces/bookings",
        json={
            "ResourceId": env.space.room_id,
            "CoworkerId": env.space.alice,
            "FromTime": (start + timedelta(hours=5)).isoformat(),
            "ToTime": (start + timedelta(hours=6)).isoformat(),
        },
    )
    assert made.status_code == 200, made.text
    await s.settle()

    # Access tokens die: spacecal refreshes (Microsoft rotates its refresh token).
    env.google.store.access_tokens.clear()
    env.microsoft.identity.expire_access_tokens("alice@outlook.test")
    google.create("After refresh", start + timedelta(hours=7), start + timedelta(hours=8))
    microsoft.create("After refresh", start + timedelta(hours=7), start + timedelta(hours=8))
    await s.settle()
    # Provider errors: the failure paths log.
    await env.fault(GOOGLE, {"kind": "http_5xx", "times": 2})
    await env.fault(MICROSOFT, {"kind": "http_5xx", "times": 2})
    google.create("Through a 5xx", start + timedelta(hours=9), start + timedelta(hours=10))
    microsoft.create("Through a 5xx", start + timedelta(hours=9), start + timedelta(hours=10))
    await s.settle()
    for base in (GOOGLE, MICROSOFT):
        await env.control.delete(base + "/_control/faults")
    async with s.engine.begin() as conn:
        await conn.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    await s.settle()

    # The member's pages, and error pages, as the member sees them.
    browser = env.new_browser()
    await browser.sign_in("alice@example.com")
    for path in ("/portal", "/portal/bookings", "/portal/nope", "/portal/connect/x/callback"):
        await browser.get(path)
    await browser.http.post("http://spacecal.test/portal/resources/1/google", data={})  # 403
    await browser.aclose()

    # spacecal's own API tokens: a password grant, a refresh grant, error answers.
    grant = await env.api.post(
        "/api/token",
        data={"grant_type": "password", "username": "admin@example.com", "password": PASSWORD},
    )
    assert grant.status_code == 200, grant.text
    pair = grant.json()
    issued.spacecal |= {pair["access_token"], pair["refresh_token"]}
    issued.spacecal.add(env.space.admin_headers["Authorization"].split(" ", 1)[1])
    again = await env.api.post(
        "/api/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert again.status_code == 200
    issued.spacecal |= {again.json()["access_token"], again.json()["refresh_token"]}
    replay = await env.api.post(
        "/api/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    )
    assert replay.status_code == 400
    for record in ("coworkergooglecalendars", "coworkermsofficecalendars"):
        listing = await env.api.get(f"/api/spaces/{record}")
        assert listing.status_code == 200 and listing.json()["TotalItems"] == 1
    await env.api.get("/api/spaces/bookings/999999")
    await env.api.get("/api/spaces/coworkers", headers={"Authorization": "Bearer " + "x" * 40})

    # Consent revoked: refresh fails, the account needs a reconnect (logged, shown).
    env.microsoft.revoke_consent("alice@outlook.test")
    env.microsoft.identity.expire_access_tokens("alice@outlook.test")
    microsoft.create("After revoke", start + timedelta(hours=11), start + timedelta(hours=12))
    await s.settle()
    async with s.engine.begin() as conn:
        await conn.execute(text("UPDATE procrastinate_jobs SET scheduled_at = now()"))
    await s.settle()
    listing = await env.api.get("/api/spaces/coworkermsofficecalendars")
    assert listing.json()["Records"][0]["NeedsReconnect"] is True, listing.text


async def _tokens_are_unreadable_without_the_key(s: SyncEnv, issued: Issued) -> None:
    async with s.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(ProviderAccount.refresh_token_enc, ProviderAccount.access_token_enc)
            )
        ).all()
        # Every table, as PostgreSQL prints it: no token in plain anywhere (jobs too).
        tables = list(
            await conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        )
        dumps = {
            table: "\n".join(await conn.scalars(text(f'SELECT t::text FROM "{table}" t')))
            for table in tables
        }
    assert len(rows) == 2
    provider_tokens = {t for t in issued.provider if len(t) >= MIN_SECRET}
    for table, dump in dumps.items():
        for token in provider_tokens:
            assert token not in dump, f"a provider token in plain in {table}"
    stranger = TokenCipher([Fernet.generate_key().decode()])
    stored = [bytes(v) for row in rows for v in row if v is not None]
    assert len(stored) >= 3  # both refresh tokens, and at least Google's access token
    for raw in stored:
        assert not any(t.encode() in raw for t in provider_tokens)
        # With the key it is a token the provider issued: the check above is not vacuous.
        assert s.env.rt.db.cipher.decrypt(raw) in issued.provider
        with pytest.raises(KeyConfigurationError):
            stranger.decrypt(raw)
        with pytest.raises(InvalidToken):
            Fernet(Fernet.generate_key()).decrypt(raw)
