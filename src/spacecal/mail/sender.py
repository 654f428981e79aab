"""The periodic send pass (every minute): first queue what is owed without a
message to answer (reconnect notices, bookings made elsewhere for invitation
members, invitation bookings changed elsewhere), then send everything due, retries
included (mail/outbox.py)."""

from __future__ import annotations

from spacecal import jobs
from spacecal.jobs import names
from spacecal.mail.changed import queue_changed_elsewhere
from spacecal.mail.elsewhere import queue_elsewhere
from spacecal.mail.notices import queue_reconnect_notices
from spacecal.mail.outbox import send_due
from spacecal.sync.runtime import SyncRuntime


@jobs.periodic_task(names.MAIL_SEND, periodic_id="mail-send", schedule=lambda _: "* * * * *")
async def send_task(rt: SyncRuntime) -> None:
    """Queue the notices owed, then send every message that is due."""
    async with rt.db.engine.begin() as conn:
        await queue_reconnect_notices(conn, rt.settings)
        # A move's DECLINED first: it leaves the new REQUEST owed, sent in this pass.
        await queue_changed_elsewhere(conn)
        await queue_elsewhere(conn, rt.settings)
    while (await send_due(rt)).sent >= rt.settings.mail_send_batch:
        pass
