"""Security review of the portal's sender addresses: the confirmation token never
reaches the access log; confirmation mails are limited per member and address."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime

import pytest
from tests.mail.intake_support import DOMAIN
from tests.support.environments import Env, make_env

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.logs import REDACTED, configure, redact_path

TOKEN = "kQzPwXrTbHnMvLcYdJfGsAeUiOoWqErTyUiOpAsDfGh"  # no digit, like token_urlsafe can


@pytest.fixture
async def mail_portal(
    settings: Settings, database: Database, member_password_hash: str, env_start: datetime
) -> AsyncIterator[Env]:
    async for env in make_env(
        settings, database, member_password_hash, start=env_start, mail_domain=DOMAIN
    ):
        yield env


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root, spacecal = logging.getLogger(), logging.getLogger("spacecal")
    saved = (root.level, spacecal.level)
    stream = io.StringIO()
    handler = configure("text", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        spacecal.setLevel(saved[1])


def test_the_confirmation_route_is_a_secret_route() -> None:
    path = f"/portal/invitations/senders/confirm/{TOKEN}?x=1"
    assert redact_path(path) == f"/portal/invitations/senders/confirm/{REDACTED}?x=1"


async def test_a_confirmation_token_never_reaches_the_logs(
    mail_portal: Env, captured_logs: io.StringIO
) -> None:
    browser = mail_portal.browser
    await browser.sign_in("alice@example.com")
    await browser.get(f"/portal/invitations/senders/confirm/{TOKEN}")
    logged = captured_logs.getvalue()
    assert "GET /portal/invitations/senders/confirm/" in logged
    assert TOKEN not in logged
    assert f"/portal/invitations/senders/confirm/{REDACTED}" in logged
