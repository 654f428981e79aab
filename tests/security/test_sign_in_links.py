"""Sign-in links: the page says whom the link signs in to before its button (issue 17
item 14), and the link's token never reaches a log line, whatever it looks like (item
13: about 0.07% of tokens have no digit and slipped past the look-based redaction)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import insert
from tests.support.environments import Env
from tests.support.portal import find_form

from spacecal import clock
from spacecal.db.models import MemberSignInLink
from spacecal.logs import REDACTED, configure
from spacecal.portal.members import _hash

# A token as secrets.token_urlsafe(32) makes them, without a digit.
DIGITLESS = "kQzPwXrTbHnMvLcYdJfGsAeUiOoWqErTyUiOpAsDfGh"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    spacecal = logging.getLogger("spacecal")
    saved = (root.level, spacecal.level)
    stream = io.StringIO()
    handler = configure("text", "DEBUG", stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        spacecal.setLevel(saved[1])


async def _link(env: Env, token: str, coworker_id: int) -> str:
    now = clock.now()
    async with env.rt.db.engine.begin() as conn:
        await conn.execute(
            insert(MemberSignInLink).values(
                token_hash=_hash(token),
                coworker_id=coworker_id,
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    return f"/portal/signin/link/{token}"


async def test_the_link_page_names_the_member_before_the_button(env: Env) -> None:
    answer = await env.api.post(f"/api/spaces/coworkers/{env.space.alice}/signinlink")
    url = answer.json()["Value"]["Url"]
    page = await env.browser.get(url)
    assert page.status_code == 200
    text = page.text
    button = text.index('type="submit"')
    assert "Alice Member" in text[:button] and "alice@example.com" in text[:button]
    assert "Riverside" in text[:button]
    form = find_form(text, "/portal/signin/link/")
    assert form.method == "post"
    page = await env.browser.post_form("/portal/signin/link/")
    assert page.url.path == "/portal" and "Alice Member" in page.text
    # A used link says so at once, naming nobody.
    page = await env.new_browser().get(url)
    assert "not valid any more" in page.text and "Alice Member" not in page.text


async def test_a_digitless_link_token_never_reaches_the_logs(
    env: Env, captured_logs: io.StringIO
) -> None:
    path = await _link(env, DIGITLESS, env.space.bob)
    await env.browser.get(path)
    page = await env.browser.post_form("/portal/signin/link/")
    assert page.url.path == "/portal" and "Bob Member" in page.text
    logged = captured_logs.getvalue()
    assert "GET /portal/signin/link/" in logged and "POST /portal/signin/link/" in logged
    assert DIGITLESS not in logged
    assert f"/portal/signin/link/{REDACTED}" in logged
