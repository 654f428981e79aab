"""Sign-in, tokens and sessions under attack (issue 17 items 2, 4, 6, 8): parallel
guessing, counts shared between API processes, a sign-in flood, refresh-token reuse,
chain lifetime, and revocation through the real CLI, black-box over HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import httpx2
import pytest
from tests.support.api import insert_api_user
from tests.support.database import TEST_KEY
from tests.support.environments import Env, make_env
from tests.support.portal import PASSWORD, SPACECAL, Browser

from spacecal import clock
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database

EMAIL = "ops@example.com"
SPACECAL_CLI = [sys.executable, "-m", "spacecal.cli"]


def basic(email: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def grant(email: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": email, "password": password}


def client_at(app: object, address: str) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=(address, 1000))  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test", timeout=60)


@pytest.fixture
def moved_clock() -> Iterator[None]:
    clock.clock.reset()
    yield
    clock.clock.reset()


@pytest.fixture
async def two_apps(
    clean: None, settings: Settings, database: Database
) -> AsyncIterator[tuple[object, object]]:
    """Two API processes' apps (each its own authenticator) on one database."""
    mine = settings.model_copy(update={"bearer_cache_seconds": 0.2})
    yield create_app(mine, database), create_app(mine, database)


async def test_parallel_guesses_verify_at_most_the_limit_across_processes(
    two_apps: tuple[object, object], database: Database, settings: Settings, password_hash: str
) -> None:
    """40 wrong guesses at once from one address, spread over two API processes, with
    the right password inside the burst: at most the limit is checked, and the right
    one is accepted only if it was among those."""
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    first, second = (client_at(app, "198.51.100.7") for app in two_apps)
    async with first, second:
        bodies = [grant(EMAIL, f"wrong guess {n}") for n in range(40)]
        bodies.insert(20, grant(EMAIL, PASSWORD))
        answers = await asyncio.gather(
            *(
                (first if n % 2 else second).post("/api/token", data=body)
                for n, body in enumerate(bodies)
            )
        )
        statuses = [a.status_code for a in answers]
        checked = statuses.count(400) + statuses.count(200)
        assert checked <= settings.login_max_failures, statuses
        # The rest: 429 (no slot left), or 503 (the password-check queue was full).
        refused = statuses.count(429) + statuses.count(503)
        assert refused == len(bodies) - checked, statuses
        for answer in answers:
            if answer.status_code in (429, 503):
                assert int(answer.headers["Retry-After"]) >= 1
                assert answer.json()["error"] in ("invalid_grant", "temporarily_unavailable")
        # And one after another: the other process sees the first one's counts.
        assert (await first.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 429


async def test_sequential_failures_count_once_across_two_processes(
    two_apps: tuple[object, object], database: Database, settings: Settings, password_hash: str
) -> None:
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    first, second = (client_at(app, "198.51.100.8") for app in two_apps)
    async with first, second:
        for n in range(settings.login_max_failures):
            client = first if n % 2 else second
            answer = await client.post("/api/token", data=grant(EMAIL, "wrong password"))
            assert answer.status_code == 400, n
        for client in (first, second):
            answer = await client.post("/api/token", data=grant(EMAIL, PASSWORD))
            assert answer.status_code == 429, answer.text


async def test_a_locked_out_guesser_does_not_lock_out_the_owner(
    clean: None, settings: Settings, password_hash: str, database: Database
) -> None:
    """Item 6: failures from other addresses do not block a correct password from an
    address without failures, even once the per-account count is full."""
    mine = settings.model_copy(update={"login_account_max_failures": 8})
    app = create_app(mine, database)
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    async with client_at(app, "203.0.113.66") as guesser, client_at(app, "192.0.2.10") as owner:
        for _ in range(mine.login_max_failures + 3):
            await guesser.post("/api/token", data=grant(EMAIL, "wrong password"))
        assert (await guesser.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 429
        assert (await owner.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 200


async def test_a_full_account_count_stops_failed_addresses_only(
    clean: None, settings: Settings, password_hash: str, database: Database
) -> None:
    """Review finding 6: guessers from many addresses fill the account's count; an
    address that has failed at the account is then refused, while the owner and a
    Basic integration, each from an address without failures, still get in."""
    mine = settings.model_copy(update={"login_account_max_failures": 8})
    app = create_app(mine, database)
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    for n in range(mine.login_account_max_failures):
        async with client_at(app, f"203.0.113.{n + 100}") as spread:
            answer = await spread.post("/api/token", data=grant(EMAIL, "wrong password"))
            assert answer.status_code == 400, (n, answer.text)
    async with client_at(app, "203.0.113.100") as failed:
        answer = await failed.post("/api/token", data=grant(EMAIL, PASSWORD))
        assert answer.status_code == 429, answer.text
        assert int(answer.headers["Retry-After"]) >= 1
    async with client_at(app, "192.0.2.11") as owner:
        assert (await owner.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 200
    async with client_at(app, "192.0.2.12") as integration:
        answer = await integration.get("/api/spaces/businesses", headers=basic(EMAIL, PASSWORD))
        assert answer.status_code == 200, answer.text


async def test_ipv6_clients_are_counted_per_64(
    clean: None, settings: Settings, password_hash: str, database: Database
) -> None:
    """Review finding 6: a fresh IPv6 address per guess from one /64 is one address."""
    app = create_app(settings, database)
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    for n in range(settings.login_max_failures):
        async with client_at(app, f"2001:db8:0:7::{n + 1:x}") as guesser:
            answer = await guesser.post("/api/token", data=grant(EMAIL, "wrong password"))
            assert answer.status_code == 400, (n, answer.text)
    async with client_at(app, "2001:db8:0:7:ffff::99") as same_64:
        assert (await same_64.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 429
    async with client_at(app, "2001:db8:0:8::1") as other_64:
        assert (await other_64.post("/api/token", data=grant(EMAIL, PASSWORD))).status_code == 200


async def test_a_sign_in_flood_is_bounded_and_does_not_starve_others(
    clean: None, settings: Settings, password_hash: str, database: Database
) -> None:
    """120 sign-ins at once, each from its own address for its own account (the limiter
    cannot help): beyond the gate's queue they are answered 503 at once, so a Bearer
    request and a real sign-in in the middle of it are answered promptly."""
    mine = settings.model_copy(
        update={
            "login_verify_concurrency": 1,
            "login_verify_queue": 4,
            "password_hash_time_cost": 2,
            "password_hash_memory_kib": 32768,
        }
    )
    app = create_app(mine, database)
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    async with client_at(app, "192.0.2.20") as owner:
        token = (await owner.post("/api/token", data=grant(EMAIL, PASSWORD))).json()
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        flooders = [client_at(app, f"10.9.{n // 250}.{n % 250}") for n in range(120)]
        flood = [
            asyncio.ensure_future(
                c.get("/api/spaces/businesses", headers=basic(f"x{n}@example.com", "guess"))
            )
            for n, c in enumerate(flooders)
        ]
        await asyncio.sleep(0)
        started = time.monotonic()
        during = await owner.get("/api/spaces/businesses", headers=bearer)
        bearer_seconds = time.monotonic() - started
        started = time.monotonic()
        sign_in = await owner.post("/api/token", data=grant(EMAIL, PASSWORD))
        sign_in_seconds = time.monotonic() - started
        answers = await asyncio.gather(*flood)
        for c in flooders:
            await c.aclose()
    assert during.status_code == 200
    statuses = [a.status_code for a in answers]
    assert statuses.count(503) >= 100, statuses
    assert statuses.count(401) <= 20, statuses
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1"
            assert answer.json()["WasSuccessful"] is False
    # The real sign-in waited for at most the queue, or was told to come back.
    assert sign_in.status_code in (200, 503), sign_in.text
    assert bearer_seconds < 5 and sign_in_seconds < 10, (bearer_seconds, sign_in_seconds)


# --- tokens ------------------------------------------------------------------------------


async def test_reuse_of_a_spent_refresh_token_revokes_its_chain(
    two_apps: tuple[object, object], database: Database, settings: Settings, password_hash: str
) -> None:
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    first, second = (client_at(app, "192.0.2.30") for app in two_apps)
    async with first, second:
        pair1 = (await first.post("/api/token", data=grant(EMAIL, PASSWORD))).json()
        other = (await first.post("/api/token", data=grant(EMAIL, PASSWORD))).json()
        renew1 = {"grant_type": "refresh_token", "refresh_token": pair1["refresh_token"]}
        pair2 = (await first.post("/api/token", data=renew1)).json()
        bearer2 = {"Authorization": f"Bearer {pair2['access_token']}"}
        assert (await second.get("/api/spaces/businesses", headers=bearer2)).status_code == 200
        # An attacker (or the client, after a thief) presents the spent token again.
        reused = await second.post("/api/token", data=renew1)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        # The whole chain is dead: its live refresh token and its access token...
        renew2 = {"grant_type": "refresh_token", "refresh_token": pair2["refresh_token"]}
        assert (await first.post("/api/token", data=renew2)).json()["error"] == "invalid_grant"
        await asyncio.sleep(0.3)  # past bearer_cache_seconds in every process
        for client in (first, second):
            answer = await client.get("/api/spaces/businesses", headers=bearer2)
            assert answer.status_code == 401
        # ...while another sign-in's chain lives on.
        bearer = {"Authorization": f"Bearer {other['access_token']}"}
        assert (await second.get("/api/spaces/businesses", headers=bearer)).status_code == 200
        renew = {"grant_type": "refresh_token", "refresh_token": other["refresh_token"]}
        assert (await second.post("/api/token", data=renew)).status_code == 200


async def test_a_refresh_chain_ends_after_its_absolute_lifetime(
    clean: None, settings: Settings, password_hash: str, database: Database, moved_clock: None
) -> None:
    mine = settings.model_copy(update={"refresh_chain_days": 2})
    app = create_app(mine, database)
    await insert_api_user(database, password_hash, EMAIL, full_admin=True)
    async with client_at(app, "192.0.2.31") as client:
        pair = (await client.post("/api/token", data=grant(EMAIL, PASSWORD))).json()
        for _ in range(3):  # refreshed well within each token's own lifetime
            clock.clock.advance(timedelta(hours=15))
            renew = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
            answer = await client.post("/api/token", data=renew)
            assert answer.status_code == 200, answer.text
            pair = answer.json()
        clock.clock.advance(timedelta(hours=4))  # 49 h after the password grant
        renew = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        late = await client.post("/api/token", data=renew)
        assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def cli(settings: Settings, *args: str, stdin: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACECAL_")}
    env.update(DATABASE_URL=str(settings.database_url), SPACECAL_SECRET_KEYS=TEST_KEY)
    env["SPACECAL_DATA_DIR"] = str(settings.data_dir)
    done = subprocess.run(
        [*SPACECAL_CLI, "users", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


async def in_process(settings: Settings, *args: str) -> str:
    """`spacecal users …` through the CLI's entry point in this process (a thread: it
    runs its own event loop), against the session database: cheaper than a process."""
    from spacecal.cli.main import main

    env = {
        "DATABASE_URL": str(settings.database_url),
        "SPACECAL_SECRET_KEYS": TEST_KEY,
        "SPACECAL_DATA_DIR": str(settings.data_dir),
    }
    out = io.StringIO()
    root, saved = logging.getLogger(), list(logging.getLogger().handlers)
    levels = (root.level, logging.getLogger("spacecal").level)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        with contextlib.redirect_stdout(out):
            assert await asyncio.to_thread(main, ["users", *args]) == 0
    for handler in list(root.handlers):
        if handler not in saved:
            root.removeHandler(handler)
    root.setLevel(levels[0])
    logging.getLogger("spacecal").setLevel(levels[1])
    return out.getvalue()


@pytest.mark.parametrize("action", ["set-password", "deactivate", "revoke-tokens"])
def test_the_user_commands_explain_themselves(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from spacecal.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["users", action, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: spacecal users" in out
    assert "token" in out and "SPACECAL_BEARER_CACHE_SECONDS" in out


@pytest.fixture
async def short_cache_env(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[Env]:
    """The portal environment with a 0.2 s Bearer cache (the revocation bound)."""
    async for made in make_env(
        settings, database, member_password_hash, start=env_start, bearer_cache_seconds=0.2
    ):
        yield made


async def test_cli_password_change_deactivation_and_revocation_end_tokens_and_sessions(
    short_cache_env: Env, settings: Settings
) -> None:
    """Through `spacecal users …` in a real process: a password change kills the
    user's Bearer and refresh tokens, the cached Basic credential and a copied console
    cookie in this (another) process; revoke-tokens and deactivate do their part."""
    env = short_cache_env
    admin = "admin@example.com"  # seeded by the portal environment, password PASSWORD
    api = client_at(env.app, "192.0.2.40")
    browser = Browser({SPACECAL: httpx2.ASGITransport(app=env.app)})
    copy = Browser({SPACECAL: httpx2.ASGITransport(app=env.app)})
    try:
        pair = (await api.post("/api/token", data=grant(admin, PASSWORD))).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (await api.get("/api/spaces/businesses", headers=bearer)).status_code == 200
        old_basic = basic(admin, PASSWORD)
        assert (await api.get("/api/spaces/businesses", headers=old_basic)).status_code == 200
        await console_sign_in(browser, admin, PASSWORD)
        copy_cookies(browser, copy)
        assert (await copy.get("/admin/connections")).url.path == "/admin/connections"

        out = cli(settings, "set-password", admin, "--password-stdin", stdin="a new password\n")
        assert "revoked 3 token(s)" in out  # this pair and the environment's own token
        await asyncio.sleep(0.3)  # the documented bound: bearer_cache_seconds
        assert (await api.get("/api/spaces/businesses", headers=bearer)).status_code == 401
        assert (await api.get("/api/spaces/businesses", headers=old_basic)).status_code == 401
        renew = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        assert (await api.post("/api/token", data=renew)).json()["error"] == "invalid_grant"
        for b in (browser, copy):
            assert (await b.get("/admin/connections")).url.path == "/admin/signin"
        new_basic = basic(admin, "a new password")
        assert (await api.get("/api/spaces/businesses", headers=new_basic)).status_code == 200

        pair = (await api.post("/api/token", data=grant(admin, "a new password"))).json()
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        assert "Revoked 2 token(s)" in await in_process(settings, "revoke-tokens", admin)
        await asyncio.sleep(0.3)
        assert (await api.get("/api/spaces/businesses", headers=bearer)).status_code == 401

        assert "Deactivated" in await in_process(settings, "deactivate", admin)
        await asyncio.sleep(0.3)
        assert (await api.get("/api/spaces/businesses", headers=new_basic)).status_code == 401
        answer = await api.post("/api/token", data=grant(admin, "a new password"))
        assert answer.status_code == 400
    finally:
        await api.aclose()
        await browser.aclose()
        await copy.aclose()


async def console_sign_in(browser: Browser, email: str, password: str) -> None:
    await browser.get("/admin/signin")
    page = await browser.post_form("/admin/signin", email=email, password=password)
    assert page.url.path == "/admin/connections", page.text


def copy_cookies(source: Browser, target: Browser) -> None:
    for cookie in source.http.cookies.jar:
        target.http.cookies.set(cookie.name, cookie.value, domain=cookie.domain, path=cookie.path)


# --- sessions ----------------------------------------------------------------------------


async def test_sign_out_ends_every_session_a_copied_cookie_included(env: Env) -> None:
    alice = env.browser
    await alice.sign_in("alice@example.com")
    thief = env.new_browser()
    copy_cookies(alice, thief)
    assert "Alice Member" in (await thief.get("/portal")).text
    await alice.get("/portal")
    page = await alice.post_form("/portal/signout")
    assert "You are signed out." in page.text
    assert (await thief.get("/portal")).url.path == "/portal/signin"
    # Signing in again works, with a new session.
    page = await alice.sign_in("alice@example.com")
    assert "Alice Member" in page.text
    assert (await thief.get("/portal")).url.path == "/portal/signin"
    await thief.aclose()


async def test_a_member_password_change_ends_their_sessions(env: Env) -> None:
    from spacecal.portal.members import set_password

    alice = env.browser
    await alice.sign_in("alice@example.com")
    await set_password(env.rt.db.engine, env.space.alice, "a brand new password")
    assert (await alice.get("/portal")).url.path == "/portal/signin"
    page = await alice.sign_in("alice@example.com", "a brand new password")
    assert "Alice Member" in page.text


async def test_console_sign_out_ends_a_copied_cookie(env: Env) -> None:
    browser = Browser({SPACECAL: httpx2.ASGITransport(app=env.app)})
    copy = Browser({SPACECAL: httpx2.ASGITransport(app=env.app)})
    try:
        await console_sign_in(browser, "admin@example.com", PASSWORD)
        copy_cookies(browser, copy)
        assert (await copy.get("/admin/connections")).url.path == "/admin/connections"
        await browser.post_form("/admin/signout")
        assert (await copy.get("/admin/connections")).url.path == "/admin/signin"
    finally:
        await browser.aclose()
        await copy.aclose()
