"""Schemathesis over the whole OpenAPI schema: every operation, with a full
administrator's Bearer token, against the app in-process (its own event loop, its own
database engine, as in production). No answer may be a 5xx, and every answer must
match the schema (status code documented, body valid, content type declared).

A few records are seeded first, so GETs, PUTs and DELETEs of low Ids hit real rows.
Bounded to FUZZ_EXAMPLES examples per operation (default 25) so it runs in about a
minute; raise it locally for a deeper run: `FUZZ_EXAMPLES=500 uv run pytest tests/fuzz`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from tests.support.database import reset_database_sync

from spacecal import clock
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.db.url import to_libpq
from spacecal.web.auth import token_hash

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
ADMIN: dict[str, str] = {}
AUTH_PROBED: set[str] = set()


def _seed_admin(url: str) -> str:
    """Empty tables and one full administrator with a Bearer token (no argon2 needed)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        reset_database_sync(conn)
        user_id = conn.execute(
            "INSERT INTO api_users (email, password_hash, roles, full_admin, active, created_on)"
            " VALUES ('fuzz@example.com', 'x', '{}', true, true, %s) RETURNING id",
            (now,),
        ).fetchone()
        assert user_id is not None
        conn.execute(
            "INSERT INTO api_tokens (token_hash, kind, user_id, created_at, expires_at,"
            " chain, chain_started_at) VALUES (%s, 'access', %s, %s, %s, %s, %s)",
            (token_hash(token), user_id[0], now, now + timedelta(days=1), token_hash(token), now),
        )
    return token


def _seed_records(app: Any, headers: dict[str, str]) -> None:
    day = (clock.now() + timedelta(days=2)).date().isoformat()
    with asgi.get_client(app) as client:

        def create(path: str, body: dict[str, Any]) -> int:
            answer = client.post(f"/api/spaces/{path}", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["Value"]["Id"])

        for n in range(3):
            business = create("businesses", {"Name": f"B{n}", "TimeZone": "UTC"})
            resource = create("resources", {"BusinessId": business, "Name": f"R{n}"})
            coworker = create(
                "coworkers",
                {"FullName": f"C{n}", "Email": f"c{n}@example.com", "BusinessId": business},
            )
            create(
                "bookings",
                {
                    "ResourceId": resource,
                    "CoworkerId": coworker,
                    "FromTime": f"{day}T1{n}:00:00Z",
                    "ToTime": f"{day}T1{n}:30:00Z",
                },
            )
            common = {
                "ResourceId": resource,
                "CoworkerId": coworker,
                "Name": f"Cal {n}",
                "SubscriptionId": f"sub-{n}",
                "CalendarId": f"cal-{n}",
                "SubscriptionExpireDate": "2026-12-01T00:00:00Z",
            }
            create("coworkergooglecalendars", {**common, "WatchResourceId": f"w{n}"})
            create("coworkermsofficecalendars", common)


class LateApp:
    """The schema is read at import (for parametrize); the app it drives is built by a
    fixture, once the session database exists. Schemathesis runs this wrapper's lifespan
    (so the app opens its own engine in the client's event loop) and sends it every call."""

    def __init__(self) -> None:
        self.inner: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.inner is not None, "the api fixture has not built the app yet"
        await self.inner(scope, receive, send)


APP = LateApp()
_OFFLINE = Settings(
    database_url="postgresql://unused/unused", secret_keys=Fernet.generate_key().decode()
)
schema = schemathesis.openapi.from_dict(create_app(_OFFLINE).openapi())
schema.app = APP


@pytest.fixture(scope="module")
def api(settings: Settings, database: Database) -> Iterator[None]:
    """`database` first: the session database is migrated by then."""
    token = _seed_admin(settings.database_url or "")
    ADMIN["Authorization"] = f"Bearer {token}"
    # No db: the lifespan opens its own. The failed-login limiter is tested on its own
    # (tests/api/test_auth.py); here it would turn schemathesis's invalid-credential
    # probes into 429s after five of them.
    unlimited = {
        "login_max_failures": 1_000_000,
        "login_address_max_failures": 1_000_000,
        "login_account_max_failures": 1_000_000,
    }
    APP.inner = create_app(settings.model_copy(update=unlimited))
    _seed_records(APP, ADMIN)
    yield
    asgi.shutdown_lifespans()
    APP.inner = None


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_answers_within_its_schema_and_never_5xx(case: Any, api: None) -> None:
    response = case.call(headers=ADMIN)
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
    # Every built-in check but one: "schema-valid data is accepted" cannot hold for an
    # API with rules beyond the schema (a real time zone, an existing resource, a free
    # slot, opening hours); those refusals are 400 envelopes, checked for shape here.
    excluded: list[Any] = [positive_data_acceptance]
    # The auth probes (no credentials, a wrong Bearer, a wrong Basic: argon2) confirm
    # enforcement once per operation, as schemathesis's own runner does.
    if case.operation.label in AUTH_PROBED:
        excluded.append(ignored_auth)
    case.validate_response(response, headers=ADMIN, excluded_checks=excluded)
    if 200 <= response.status_code < 300:
        AUTH_PROBED.add(case.operation.label)
