"""Graph notifications whose clientState is not a string (issue 17 item 7): a number,
a list, an object, a boolean, null or nothing at all is a forgery like a wrong
string: answered 202 (never a 5xx), no traceback, nothing marked. The validation
handshake's echo carries nosniff (item 11)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.support.environments import SyncEnv

from security.test_webhook_input import snapshot
from spacecal.db.models import SubscriptionGeneration

NOT_STRINGS: list[Any] = [123, ["a"], {}, True, None, 0.5, ""]


async def test_a_client_state_that_is_not_a_string_is_forged(
    sync_env: SyncEnv, caplog: pytest.LogCaptureFixture
) -> None:
    s = sync_env
    await s.connect("microsoft")
    await s.settle()
    async with s.engine.connect() as conn:
        sub_id = await conn.scalar(select(SubscriptionGeneration.subscription_id))
    before = await snapshot(s)
    caplog.set_level(logging.WARNING)
    for path, extra in (
        ("/webhooks/microsoft", {"changeType": "created", "resource": "me/events/x"}),
        ("/webhooks/microsoft/lifecycle", {"lifecycleEvent": "subscriptionRemoved"}),
        ("/webhooks/microsoft/lifecycle", {"lifecycleEvent": "missed"}),
    ):
        for value in NOT_STRINGS:
            item = {"subscriptionId": sub_id, "clientState": value, **extra}
            answer = await s.env.api.post(
                path,
                content=json.dumps({"value": [item]}),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 202, (path, value, answer.status_code)
        missing = {"subscriptionId": sub_id, **extra}
        answer = await s.env.api.post(path, json={"value": [missing]})
        assert answer.status_code == 202, (path, "missing")
    assert await snapshot(s) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_generation_without_a_secret_accepts_no_client_state(sync_env: SyncEnv) -> None:
    """A subscription stored without a clientState must not match an absent or null one."""
    s = sync_env
    await s.connect("microsoft")
    await s.settle()
    async with s.engine.begin() as conn:
        sub_id = await conn.scalar(select(SubscriptionGeneration.subscription_id))
        await conn.execute(update(SubscriptionGeneration).values(secret=""))
    before = await snapshot(s)
    for item in (
        {"subscriptionId": sub_id, "clientState": None, "changeType": "updated"},
        {"subscriptionId": sub_id, "clientState": "", "changeType": "updated"},
        {"subscriptionId": sub_id, "changeType": "updated"},
    ):
        answer = await s.env.api.post("/webhooks/microsoft", json={"value": [item]})
        assert answer.status_code == 202
    assert await snapshot(s) == before


async def test_the_validation_echo_is_not_sniffed(sync_env: SyncEnv) -> None:
    for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
        answer = await sync_env.env.api.post(
            path, params={"validationToken": "<html><script>alert(1)</script>"}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_a_client_state_with_a_lone_surrogate_is_forged(
    sync_env: SyncEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON may spell a lone surrogate ("\\ud800"); it decodes to a str that cannot be
    encoded as UTF-8. Before the fix the comparison raised UnicodeEncodeError: 500."""
    s = sync_env
    await s.connect("microsoft")
    await s.settle()
    async with s.engine.connect() as conn:
        sub_id = await conn.scalar(select(SubscriptionGeneration.subscription_id))
    before = await snapshot(s)
    caplog.set_level(logging.WARNING)
    for path, extra in (
        ("/webhooks/microsoft", '"changeType": "created", "resource": "me/events/x"'),
        ("/webhooks/microsoft/lifecycle", '"lifecycleEvent": "subscriptionRemoved"'),
    ):
        for state in ('"\\ud800"', '"a\\udfffb"', '"\\udc80\\ud800"'):
            raw = (
                f'{{"value": [{{"subscriptionId": "{sub_id}", "clientState": {state}, {extra}}}]}}'
            )
            answer = await s.env.api.post(
                path, content=raw, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 202, (path, state, answer.status_code)
    assert await snapshot(s) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
