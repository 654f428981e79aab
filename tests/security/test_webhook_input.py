"""Webhook endpoints under hostile input: replayed Graph validation handshakes, missing
and giant headers, oversized bodies, forged tokens. Each is answered (never a 5xx) and
changes nothing: no notification time, no mark or queued job, no subscription status.
(tests/sync/test_failures.py covers forged tokens/clientState and malformed JSON.)"""

from __future__ import annotations

import json

from sqlalchemy import select, text
from tests.support.channel_secrets import channel_secret
from tests.support.environments import SyncEnv

from spacecal.db.models import Connection, SubscriptionGeneration


async def snapshot(s: SyncEnv) -> tuple[object, ...]:
    async with s.engine.connect() as conn:
        notified = (
            await conn.execute(select(Connection.id, Connection.last_notification_at))
        ).all()
        statuses = (
            await conn.execute(
                select(SubscriptionGeneration.subscription_id, SubscriptionGeneration.status)
            )
        ).all()
        jobs = await conn.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
        # Intake commits a mark per notification (the worker turns marks into jobs).
        marked = await conn.scalar(text("SELECT sum(notifications_pending) FROM connections"))
    return sorted(notified), sorted(statuses), jobs + marked


async def test_hostile_webhook_requests_change_nothing(sync_env: SyncEnv) -> None:
    s = sync_env
    await s.connect("google")
    await s.connect("microsoft")
    await s.settle()
    async with s.engine.connect() as conn:
        gens = {r.provider: r for r in (await conn.execute(select(SubscriptionGeneration))).all()}
    google, microsoft = gens["google"], gens["microsoft"]
    web = s.env.api
    before = await snapshot(s)
    forged_item = {
        "subscriptionId": microsoft.subscription_id,
        "clientState": "guess",
        "changeType": "created",
        "resource": "me/events/x",
    }

    # Graph's validation handshake, replayed, and with a notification riding along:
    # the token is echoed as plain text (never HTML) and the body is not read.
    for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
        for token in ("Validation: abc", "Validation: abc", "<script>alert(1)</script>"):
            answer = await web.post(
                path,
                params={"validationToken": token},
                content=json.dumps({"value": [forged_item]}),
                headers={"content-type": "application/json"},
            )
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/plain")
            assert answer.text == token

    google_headers = {
        "X-Goog-Channel-ID": google.subscription_id,
        "X-Goog-Channel-Token": channel_secret(s.env, google.subscription_id),
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-ID": google.watch_resource_id or "",
    }
    # Missing headers: each of the required ones left out.
    for missing, status in (
        ("X-Goog-Channel-ID", 400),
        ("X-Goog-Resource-State", 400),
        ("X-Goog-Channel-Token", 401),
    ):
        headers = {k: v for k, v in google_headers.items() if k != missing}
        answer = await web.post("/webhooks/google", headers=headers)
        assert answer.status_code == status, missing
    # Giant headers: a channel id or token of 64 KiB, and a 64 KiB stray header.
    giant = "x" * 65536
    for name, value, status in (
        ("X-Goog-Channel-ID", giant, 400),
        ("X-Goog-Channel-Token", giant, 401),
        ("X-Goog-Channel-Token", channel_secret(s.env, google.subscription_id) + giant, 401),
    ):
        answer = await web.post("/webhooks/google", headers={**google_headers, name: value})
        assert answer.status_code == status, name
    stray = {**google_headers, "X-Goog-Channel-Token": "guess", "X-Padding": giant}
    assert (await web.post("/webhooks/google", headers=stray)).status_code == 401
    # A forged Graph notification without a content type, or with a giant clientState.
    bodies = [
        {"value": [forged_item]},
        {
            "value": [
                {
                    **forged_item,
                    "clientState": channel_secret(s.env, microsoft.subscription_id) + giant,
                }
            ]
        },
        {"value": [{**forged_item, "clientState": None}]},
        {"value": [{**forged_item, "subscriptionId": giant}]},
    ]
    for body in bodies:
        answer = await web.post("/webhooks/microsoft", content=json.dumps(body))
        assert answer.status_code == 202
    # Oversized bodies: over 1 MiB, whether the length is declared or not.
    big = json.dumps({"value": [forged_item], "pad": "x" * (1024 * 1024)}).encode()
    for path in ("/webhooks/microsoft", "/webhooks/microsoft/lifecycle"):
        assert (await web.post(path, content=big)).status_code == 413

        async def chunks() -> object:
            for _ in range(17):
                yield b"x" * 65536

        assert (await web.post(path, content=chunks())).status_code == 413
        lying = await web.post(path, content=b"{}", headers={"content-length": str(10**12)})
        assert lying.status_code in (400, 413)

    assert await snapshot(s) == before
    # The real ones still work afterwards: the endpoints were not wedged.
    answer = await web.post("/webhooks/google", headers=google_headers)
    assert answer.status_code == 200
    assert (await snapshot(s))[2] == before[2] + 1
