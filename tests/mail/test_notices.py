"""A connection needing reconnecting: the member gets one email with the portal
link, not one per failure, and again only after it was healthy in between."""

from __future__ import annotations

from sqlalchemy import text
from tests.mail.support import Sink, start_sink
from tests.support.environments import SyncEnv

from spacecal.mail.sender import send_task
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import mark_needs_reconnect


async def test_one_reconnect_email_per_loss_of_consent(sync_env: SyncEnv) -> None:
    await sync_env.connect("google", "alice", "room")
    sink = Sink()
    server, port = await start_sink(sink)
    settings = sync_env.rt.settings.model_copy(
        update={"smtp_url": f"smtp://127.0.0.1:{port}", "mail_domain": "mail.riverside.test"}
    )
    rt = SyncRuntime(settings=settings, db=sync_env.rt.db, provider_for=sync_env.rt.provider_for)
    try:
        async with rt.db.engine.connect() as conn:
            account = await conn.scalar(text("SELECT id FROM provider_accounts"))
        await send_task(rt)
        assert sink.received == []  # healthy: nothing to say
        for _ in range(3):  # failure after failure
            await mark_needs_reconnect(rt.db.engine, account, "invalid_grant")
            await send_task(rt)
        [notice] = sink.messages()
        assert notice["To"] == "alice@example.com"
        assert notice["From"] == "no-reply@mail.riverside.test"
        body = notice.get_content()
        assert "Meeting Room A" in body
        assert "/portal" in body and "invalid_grant" not in body
        # Reconnected (healthy), then lost again: told again, once.
        async with rt.db.engine.begin() as conn:
            await conn.execute(text("UPDATE connections SET health = 'healthy'"))
        await send_task(rt)
        await mark_needs_reconnect(rt.db.engine, account, "invalid_grant")
        await send_task(rt)
        await send_task(rt)
        assert len(sink.received) == 2
    finally:
        server.close()
        await server.wait_closed()
