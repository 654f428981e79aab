"""Helpers of the keep-alive tests (KeepEnv: tests/support/environments.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.support.environments import KeepEnv

from spacecal import clock

GOOGLE = "http://google.emulator.test"


MICROSOFT = "http://microsoft.emulator.test"


async def assert_one_live(k: KeepEnv, provider: str, calendar_id: str) -> None:
    """Exactly one live generation, the same at the provider and on the record."""
    live = await k.generations(provider, "live")
    assert len(live) == 1, live
    assert k.live_at_provider(provider, calendar_id) == [live[0].subscription_id]
    record = await k.connection(provider)
    assert record.subscription_id == live[0].subscription_id
    assert record.subscription_expire_date == live[0].expires_at
    assert record.subscription_expire_date > clock.now()
    if provider == "google":
        assert record.watch_resource_id == live[0].watch_resource_id
    assert await k.generations(provider, "stopping") == []
    shown = await k.record(provider)  # what the records API shows
    assert shown["SubscriptionId"] == live[0].subscription_id
    assert datetime.fromisoformat(shown["SubscriptionExpireDate"].replace("Z", "+00:00")) == (
        pytest.approx(live[0].expires_at, abs=timedelta(seconds=1))
    )
    if provider == "google":
        assert shown["WatchResourceId"] == live[0].watch_resource_id


async def put_record(k: KeepEnv, path: str, record_id: int, **changes: Any) -> None:
    answer = await k.env.api.get(f"/api/spaces/{path}/{record_id}")
    assert answer.status_code == 200, answer.text
    body = {key: v for key, v in answer.json().items() if v is not None}
    body.update(changes)
    answer = await k.env.api.put(f"/api/spaces/{path}", json=body)
    assert answer.status_code == 200, answer.text


async def add_resource(k: KeepEnv, provider: str, resource_id: int) -> None:
    browser = k.env.new_browser()
    page = await browser.sign_in("alice@example.com")
    assert page.status_code == 200, page.text
    page = await browser.post_form(f"/portal/resources/{resource_id}/{provider}", action="add")
    assert page.status_code == 200, page.text
    await browser.aclose()
