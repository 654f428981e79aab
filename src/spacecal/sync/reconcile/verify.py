"""A connection's calendar is synced only once spacecal has verified that it made that
calendar for that account.

A CalendarId written through the records API (a full administrator's repair or
migration) is stored as it is, but the row is unverified until
`verified_calendar_id`/`verified_account_id` match it (migration 0014;
`target.calendar_verified`). Reconcile then asks the provider about that calendar
(`calendar_facts`) and syncs only when all of these hold, never on the name alone:

- it carries spacecal's marker: Graph, a single-value extended property spacecal
  writes when it creates a calendar; Google, the token is scoped to
  `calendar.app.created`, so it sees only the calendars this app made (an account that
  granted a broader calendar scope proves nothing by seeing one);
- the account owns it and may edit it, and it is not the account's main calendar.

A calendar that fails is left alone: the row's sync condition says why
(`Health.UNVERIFIED`), no event of it is read or written, and the sweep asks again
after the usual backoff. Graph calendars spacecal made before it marked them
(`marker_pending`, set by migration 0014) are checked and marked by the one-off
`mark_calendars` job: not the default calendar, owned, editable, and named as
spacecal names that connection's calendar (`naming.calendar_name` of its resource and
business, never the record's Name, which an API user may edit; with or without the
"(no longer synced)" suffix a disconnect writes). Provisioning adopts an existing
calendar by the same rules (`adoptable`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal import jobs
from spacecal.db.models import Business, Connection, ProviderAccount, Resource
from spacecal.jobs import names
from spacecal.jobs.reconcile import defer_reconcile
from spacecal.providers.base import CalendarFacts, CalendarProvider, NotFound
from spacecal.providers.paths import UnsafeId
from spacecal.sync.naming import calendar_name
from spacecal.sync.runtime import SyncRuntime
from spacecal.sync.tokens import AccountTokens

log = logging.getLogger("spacecal.sync")

_SCOPE = "https://www.googleapis.com/auth/"
GOOGLE_APP_CREATED = _SCOPE + "calendar.app.created"
# Scopes that let a Google token see calendars the app did not make.
GOOGLE_BROAD_SCOPES = frozenset({_SCOPE + "calendar", _SCOPE + "calendar.readonly"})

ADVICE = (
    " Sync stays off for this calendar; a full administrator can correct CalendarId, "
    "or the member can reconnect so spacecal makes the calendar."
)


class CalendarUnverified(Exception):
    """The calendar a connection names was not verified as spacecal's (the reason)."""


def refusal(facts: CalendarFacts, provider: str, scopes: list[str]) -> str | None:
    """Why `facts` do not show a calendar spacecal made for the account, or None."""
    if facts.default:
        return "it is the account's main calendar"
    if not facts.owned:
        return "the account does not own it"
    if not facts.can_edit:
        return "spacecal may not edit it"
    if not facts.marked:
        return "it does not carry spacecal's marker, so spacecal did not make it"
    if provider == "google" and (
        GOOGLE_APP_CREATED not in scopes or GOOGLE_BROAD_SCOPES & set(scopes)
    ):
        return "the account's grant is not limited to the calendars spacecal made"
    return None


async def _account(conn: AsyncConnection, account_id: int) -> tuple[str, list[str]]:
    row = (
        await conn.execute(
            select(ProviderAccount.email, ProviderAccount.scopes).where(
                ProviderAccount.id == account_id
            )
        )
    ).first()
    if row is None:
        return "", []
    return str(row.email or ""), list(row.scopes or [])


async def check_calendar(
    rt: SyncRuntime,
    provider: CalendarProvider,
    tokens: AccountTokens,
    account_id: int,
    calendar_id: str,
) -> tuple[CalendarFacts | None, str | None]:
    """The provider's facts and the reason they fail (None: verified). Throttling
    and transient errors propagate (the caller's failure policy applies)."""
    async with rt.db.engine.connect() as conn:
        email, scopes = await _account(conn, account_id)
    try:
        facts = await tokens.call(lambda a: provider.calendar_facts(a, calendar_id, email))
    except UnsafeId as exc:
        return None, f"CalendarId is not a valid calendar id ({exc})"
    except NotFound:
        return None, "the account has no such calendar that spacecal can see"
    return facts, refusal(facts, provider.name, scopes)


async def store_verified(
    conn: AsyncConnection, connection_id: int, calendar_id: str, account_id: int
) -> bool:
    """Remember the verification, unless the row changed meanwhile (then the new
    values are checked on their own next time)."""
    result = await conn.execute(
        update(Connection)
        .where(
            Connection.id == connection_id,
            Connection.calendar_id == calendar_id,
            Connection.provider_account_id == account_id,
        )
        .values(
            verified_calendar_id=calendar_id, verified_account_id=account_id, marker_pending=False
        )
    )
    return bool(result.rowcount)


async def verify(
    rt: SyncRuntime,
    provider: CalendarProvider,
    tokens: AccountTokens,
    *,
    connection_id: int,
    account_id: int,
    calendar_id: str,
    marker_pending: bool,
) -> None:
    """Verify and store, or raise CalendarUnverified. A Graph calendar made before
    markers (`marker_pending`) waits for the mark job, which this queues."""
    _, reason = await check_calendar(rt, provider, tokens, account_id, calendar_id)
    if reason is None:
        async with rt.db.engine.begin() as conn:
            await store_verified(conn, connection_id, calendar_id, account_id)
        return
    if marker_pending:
        async with rt.db.engine.begin() as conn:
            await defer_mark_calendars(conn, account_id)
        raise CalendarUnverified(
            "spacecal is checking this calendar, made before spacecal marked its "
            "calendars; sync starts once it is marked."
        )
    raise CalendarUnverified(
        f"spacecal did not verify the calendar in CalendarId as one it made for this "
        f"account: {reason}.{ADVICE}"
    )


# --- the one-off mark job (jobs/names.py MARK_CALENDARS) -------------------------------


async def defer_mark_calendars(conn: AsyncConnection, account_id: int) -> bool:
    job = jobs.JobRow(f"account:{account_id}", f"mark:{account_id}", {"account_id": account_id})
    return await jobs.defer(conn, names.MARK_CALENDARS, job)


def legacy_refusal(facts: CalendarFacts, name: str) -> str | None:
    """Why an unmarked Graph calendar from before markers is not taken as spacecal's:
    every check of `refusal` but the marker, and the name spacecal gave this
    connection's calendar (a "no longer synced" suffix allowed)."""
    reason = refusal(replace(facts, marked=True), "microsoft", [])
    # The note suffix sync/upkeep/detached_calendars.py writes (NOTE_LABEL, numbered).
    noted = re.fullmatch(re.escape(name) + r" \(no longer synced(?: \d+)?\)", facts.name)
    if reason is None and facts.name != name and noted is None:
        return "its name is not the one spacecal gave it"
    return reason


async def adoptable(
    rt: SyncRuntime,
    provider: CalendarProvider,
    tokens: AccountTokens,
    account_id: int,
    calendar_id: str,
    name: str,
) -> tuple[bool, bool]:
    """Whether provisioning may adopt an existing calendar of the account that carries
    spacecal's name `name` (`naming.calendar_name`), and whether it must mark it: one
    that passes `refusal`, or an unmarked Graph calendar from before markers that
    passes `legacy_refusal` against `name`. A name alone is never enough: the member's
    own calendar may be called anything."""
    facts, reason = await check_calendar(rt, provider, tokens, account_id, calendar_id)
    if facts is None:
        return False, False
    if not facts.marked and provider.name == "microsoft":
        return legacy_refusal(facts, name) is None, True
    return reason is None, False


@jobs.task(names.MARK_CALENDARS)
async def mark_calendars_task(rt: SyncRuntime, account_id: int) -> None:
    """The job: lock = the account, queueing lock = mark:{account} (no retry)."""
    marked = await mark_calendars(rt, account_id)
    log.info("marked %d calendar(s) of account %s", marked, account_id)


async def mark_calendars(rt: SyncRuntime, account_id: int) -> int:
    """Check every `marker_pending` calendar of the account, write the marker onto
    those that pass, verify them and queue their reconcile. One that fails stays
    unverified (reconcile's condition says why) and is not asked about again.
    Throttling or an outage fails the job with the rows still pending: the next
    reconcile of one of them queues the job again."""
    async with rt.db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    Connection.id,
                    Connection.provider,
                    Connection.calendar_id,
                    Resource.name.label("resource"),
                    Business.name.label("business"),
                )
                .join(Resource, Resource.id == Connection.resource_id)
                .join(Business, Business.id == Resource.business_id)
                .where(
                    Connection.provider_account_id == account_id,
                    Connection.marker_pending,
                    Connection.calendar_id.is_not(None),
                )
                .order_by(Connection.id)
            )
        ).all()
    marked = 0
    for row in rows:
        provider = rt.provider_for(row.provider)
        tokens = rt.tokens(row.provider, account_id)
        calendar_id = str(row.calendar_id)
        facts, reason = await check_calendar(rt, provider, tokens, account_id, calendar_id)
        if facts is not None and not facts.marked:
            # The name spacecal gives it, not Connection.name (an -Edit user sets that).
            reason = legacy_refusal(facts, calendar_name(row.resource, row.business))
            if reason is None:
                await tokens.call(partial(provider.mark_calendar, calendar_id=calendar_id))
        async with rt.db.engine.begin() as conn:
            if reason is None and await store_verified(conn, row.id, calendar_id, account_id):
                await defer_reconcile(conn, row.id, account_id)
                marked += 1
                continue
            await conn.execute(
                update(Connection).where(Connection.id == row.id).values(marker_pending=False)
            )
        log.warning(
            "calendar of connection %s not marked: %s",
            row.id,
            reason or "the connection changed meanwhile",
            extra={"connection_id": row.id},
        )
    return marked
