"""The console's Mail page: is invitation intake working? What the receiver is set to,
how many messages wait to be processed and for how long, outcomes over the last day
and the kept period, and the latest failures (error kinds only, never content)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import clock
from spacecal.admin.access import need_any
from spacecal.admin.runtime import runtime
from spacecal.admin.views import redirect, render

router = APIRouter(prefix="/admin", include_in_schema=False)

_OUTCOMES = text(
    "SELECT CASE WHEN status = 'queued' THEN 'queued' ELSE coalesce(outcome, status) END AS o,"
    " count(*) FILTER (WHERE received_at >= :day) AS day, count(*) AS kept"
    " FROM mail_messages GROUP BY 1 ORDER BY 3 DESC, 1"
)
_WAITING = text("SELECT count(*), min(received_at) FROM mail_messages WHERE status = 'queued'")
_LAST = text("SELECT max(received_at) FROM mail_messages")
_FAILED = text(
    "SELECT id, received_at, outcome, error FROM mail_messages WHERE status = 'failed'"
    " ORDER BY received_at DESC LIMIT 10"
)


@dataclass(frozen=True)
class Intake:
    outcomes: list[tuple[str, int, int]]  # outcome, last 24 h, kept
    waiting: int
    oldest_waiting: datetime | None
    last_received: datetime | None
    failures: list[tuple[int, datetime, str, str]]

    def state(self, now: datetime, stuck_after: timedelta) -> str:
        if self.oldest_waiting is not None and now - self.oldest_waiting > stuck_after:
            return "stuck"
        if self.failures and self.failures[0][1] > now - timedelta(days=1):
            return "failing"
        return "healthy"


async def load_intake(engine: AsyncEngine, now: datetime) -> Intake:
    async with engine.connect() as conn:
        outcomes = [
            (str(o), int(d), int(k))
            for o, d, k in await conn.execute(_OUTCOMES, {"day": now - timedelta(days=1)})
        ]
        waiting, oldest = (await conn.execute(_WAITING)).one()
        last = await conn.scalar(_LAST)
        failures = [
            (int(i), r, str(o or ""), str(e or "")) for i, r, o, e in await conn.execute(_FAILED)
        ]
    return Intake(outcomes, int(waiting or 0), oldest, last, failures)


#: A message waiting longer than this means no worker processes the mail queue.
STUCK_AFTER = timedelta(minutes=10)


@router.get("/mail")
async def mail_page(request: Request) -> Response:
    rt = runtime(request)
    found = await rt.current_user(request)
    if found is None:
        return redirect("/admin/signin")
    session, user = found
    need_any(user, "List")
    now = clock.now()
    intake = await load_intake(rt.db.reads, now)
    settings = rt.settings
    return render(
        rt,
        request,
        "mail.html",
        {
            "active": "mail",
            "intake": intake,
            "state": intake.state(now, STUCK_AFTER),
            "stuck_minutes": int(STUCK_AFTER.total_seconds() // 60),
            "domain": settings.mail_domain,
            "listen": settings.smtp_listen,
            "tls": settings.smtp_tls_cert is not None,
            "max_mib": round(settings.smtp_max_bytes / 1024 / 1024, 1),
            "keep_days": settings.mail_keep_days,
            "dns": "overrides file" if settings.dns_overrides_file else "network",
            "now": now,
        },
        session=session,
        user=user,
    )
