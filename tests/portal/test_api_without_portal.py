"""The records API's DELETE of a connection stops its push at the provider through the
application's services, whichever parts are mounted: an app built without the portal
(and without the console) still stops the subscription, instead of only marking it
"stopping" as when the provisioner came from the portal's middleware.

The portal environment connects the calendar (its connect flow needs the portal);
the DELETE then goes through a second app over the same services with no portal."""

from __future__ import annotations

import httpx2
import pytest
from sqlalchemy import select
from tests.support.bookings import EMAIL, RECORDS, live_subscriptions
from tests.support.environments import Env

from spacecal.app import create_app
from spacecal.db.models import SubscriptionGeneration


@pytest.mark.parametrize("provider", ["google", "microsoft"])
async def test_a_delete_through_an_app_without_the_portal_stops_the_subscription(
    env: Env, provider: str
) -> None:
    await env.browser.sign_in("alice@example.com")
    page = await env.browser.connect(provider, EMAIL[provider])
    assert "is connected" in page.text, page.text
    await env.browser.get("/portal")
    page = await env.browser.post_form(
        f"/portal/resources/{env.space.room_id}/{provider}", action="add"
    )
    assert "Added" in page.text, page.text
    assert len(await live_subscriptions(env, provider)) == 1
    record = (await env.records(RECORDS[provider]))[0]

    bare = create_app(services=env.rt.services, portal=False, admin=False)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=bare),
        base_url="http://spacecal.test",
        headers=env.api.headers,
    ) as api:
        assert (await api.get("/portal")).status_code == 404  # no portal here
        answer = await api.delete(f"/api/spaces/{RECORDS[provider]}/{record['Id']}")
        assert answer.status_code == 200, answer.text

    assert await live_subscriptions(env, provider) == []
    async with env.rt.db.engine.connect() as conn:
        statuses = set((await conn.scalars(select(SubscriptionGeneration.status))).all())
    assert statuses <= {"stopped"}, statuses
