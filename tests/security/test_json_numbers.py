"""Numbers JSON does not have (NaN, Infinity), or too large to hold (1e309, a 4,400-digit
integer), in request bodies and webhook payloads (issue 17 item 10): the records API
answers a 400 Nexudus envelope and the webhooks answer without a 5xx. Each was a 500.
(The in-process transport re-raises server errors, so a 500 fails loudly here.)"""

from __future__ import annotations

import json

import httpx2
import pytest
from sqlalchemy import select
from tests.support.api import create
from tests.support.environments import SyncEnv

from spacecal.db.models import SubscriptionGeneration

NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "9" * 4400, "1" + "0" * 100]


@pytest.mark.parametrize("number", NUMBERS, ids=lambda n: n[:12])
async def test_json_bodies_with_odd_numbers_answer_a_400_envelope(
    client: httpx2.AsyncClient, quick_admin: dict[str, str], number: str
) -> None:
    business = await create(client, quick_admin, "businesses", {"Name": "B", "TimeZone": "UTC"})
    headers = {**quick_admin, "Content-Type": "application/json"}
    bodies = [
        ("POST", "/api/spaces/businesses", '{"Name": "B", "TimeZone": "UTC", "X": @@}'),
        ("POST", "/api/spaces/businesses", '{"Name": "B", "MaxBookingDaysAhead": @@}'),
        (
            "PUT",
            "/api/spaces/businesses",
            f'{{"Id": {business}, "Name": "B", "TimeZone": "UTC", "MaxBookingDaysAhead": @@}}',
        ),
        (
            "POST",
            "/api/spaces/resources",
            f'{{"BusinessId": {business}, "Name": "R", "OpeningHours": {{"x": @@}}}}',
        ),
        ("POST", "/api/spaces/bookings", '{"ResourceId": @@, "FromTime": "x"}'),
    ]
    for method, path, template in bodies:
        answer = await client.request(
            method, path, content=template.replace("@@", number), headers=headers
        )
        assert answer.status_code == 400, (path, answer.text)
        envelope = answer.json()
        assert envelope["WasSuccessful"] is False and envelope["Status"] == 400
        assert envelope["Message"].startswith("The request body is not valid JSON"), envelope
    # The same number inside a field holding JSON text.
    text = json.dumps({"mon": [["08:00", "20:00"]]})[:-1] + f', "x": {number}}}'
    answer = await client.post(
        "/api/spaces/resources",
        json={"BusinessId": business, "Name": "R", "OpeningHours": text},
        headers=quick_admin,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["Errors"][0]["PropertyName"] == "OpeningHours"


async def test_webhook_payloads_with_odd_numbers_are_not_5xx(sync_env: SyncEnv) -> None:
    s = sync_env
    await s.connect("microsoft")
    await s.settle()
    async with s.engine.connect() as conn:
        generation = (await conn.execute(select(SubscriptionGeneration))).one()
    item = f'{{"subscriptionId": "{generation.subscription_id}", "clientState": @@}}'
    for number in NUMBERS:
        for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
            for body in (
                '{"value": [ITEM]}'.replace("ITEM", item.replace("@@", number)),
                '{"value": [{"subscriptionId": @@}]}'.replace("@@", number),
                '{"value": @@}'.replace("@@", number),
            ):
                answer = await s.env.api.post(
                    path, content=body, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 400, (path, number[:12], answer.status_code)
