"""What a member must know about their connections, by mail: when a Google,
Microsoft or CalDAV connection needs reconnecting, one email (not one per failure)
with the link to the portal.

Level-triggered like everything else: each send pass marks the connections that
need reconnecting and were not mailed yet (`connections.reconnect_mailed_at`), and
queues one message per member and provider naming their resources; a connection
healthy again is unmarked, so a later loss of consent is told again.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import clock
from spacecal.config import Settings
from spacecal.domain.account_messages import LABELS
from spacecal.mail.outbox import queue_mail

_MARK = text(
    "UPDATE connections c SET reconnect_mailed_at = :now FROM coworkers m, resources r"
    " WHERE c.health = 'needs_reconnect' AND c.reconnect_mailed_at IS NULL"
    " AND m.id = c.coworker_id AND r.id = c.resource_id"
    " RETURNING c.coworker_id, c.provider, m.email, r.name AS resource"
)
_UNMARK = text(
    "UPDATE connections SET reconnect_mailed_at = NULL"
    " WHERE reconnect_mailed_at IS NOT NULL AND health <> 'needs_reconnect'"
)


def _text(provider: str, resources: list[str], portal: str) -> str:
    label = LABELS.get(provider, provider)
    listed = "\n".join(f"- {name}" for name in sorted(resources))
    return (
        f"spacecal can no longer reach your {label} calendar, so these calendars are not "
        f"kept in sync with your bookings:\n{listed}\n\nConnect {label} again on the "
        f"portal: {portal}\n\nYour bookings are kept; nothing is lost meanwhile.\n"
    )


async def queue_reconnect_notices(conn: AsyncConnection, settings: Settings) -> list[int]:
    """Queue the reconnect emails that are owed (in the caller's transaction)."""
    if not settings.mail_domain:
        return []  # no domain to send from
    await conn.execute(_UNMARK)
    rows = (await conn.execute(_MARK, {"now": clock.now()})).all()
    grouped: dict[tuple[int, str, str], list[str]] = defaultdict(list)
    for row in rows:
        grouped[(row.coworker_id, row.provider, row.email)].append(row.resource)
    portal = f"{settings.effective_public_url()}/portal"
    queued = []
    for (_, provider, email), resources in sorted(grouped.items()):
        queued.append(
            await queue_mail(
                conn,
                to=email,
                from_address=f"no-reply@{settings.mail_domain}",
                subject=f"Connect {LABELS.get(provider, provider)} again",
                text=_text(provider, resources, portal),
            )
        )
    return queued
