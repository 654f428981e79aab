"""`spacecal connections list|show|resync|renew`: the console's connection views and
buttons, for an operator's shell.

Reads go through the console's own read model (spacecal.admin.data), so the CLI and
the console always agree on a connection's health. Resync and renew are the console's
buttons in bulk (cli/bulk.py): a flag on the connection plus a keep-alive job.
Nothing printed is a secret: channel tokens, clientStates, provider tokens and sync
cursors are never selected.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import Any

from spacecal.cli.common import CliError, Subparsers, run_with_db
from spacecal.cli.table import ago, iso, table

PROVIDERS = ("google", "microsoft", "caldav")
HEALTH_HELP = (
    "healthy, syncing (queued, running, throttled or being set up), needs_reconnect "
    "(the member must connect again), failing (last sync or renewal failed), expiring "
    "(push subscription about to lapse)"
)


def _states() -> tuple[str, ...]:
    from spacecal.admin.health import STATES

    return tuple(STATES)


def _soon(settings: Any) -> timedelta:
    return timedelta(seconds=float(settings.admin_expiring_soon_seconds))


async def resolve_business(engine: Any, given: str | None) -> int | None:
    """A business by id or by (case-insensitive) name; CliError naming the choices."""
    if given is None:
        return None
    from spacecal.admin.data import businesses

    known = await businesses(engine)
    if given.isdigit() and any(b_id == int(given) for b_id, _ in known):
        return int(given)
    matches = [b_id for b_id, name in known if name.lower() == given.strip().lower()]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(f"{name} ({b_id})" for b_id, name in known) or "none yet"
    raise CliError(f"no business {given!r}: give an id or a name (businesses: {names}).")


# --- list -------------------------------------------------------------------------


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "provider": row.provider,
        "name": row.name,
        "business_id": row.business_id,
        "business": row.business_name,
        "resource": row.resource_name,
        "member": row.member_name,
        "member_email": row.member_email,
        "account_email": row.account_email,
        "health": row.state,
        "last_notification_at": iso(row.last_notification_at),
        "last_sync_at": iso(row.last_sync_at),
        "subscription_expires_at": iso(row.subscription_expire_date),
        "last_error": row.last_error,
        "last_error_at": iso(row.last_error_at),
    }


def cmd_list(args: argparse.Namespace) -> int:
    from spacecal import clock
    from spacecal.admin.data import Filters, list_connections

    async def work(db: Any, settings: Any) -> tuple[Any, datetime]:
        business_id = await resolve_business(db.engine, args.business)
        providers = (args.provider,) if args.provider else PROVIDERS
        filters = Filters(providers, business_id, args.health, args.search or "")
        now = clock.now()
        page = await list_connections(
            db.engine, filters, now=now, soon=_soon(settings), page=args.page, size=args.limit
        )
        return page, now

    page, now = run_with_db(args, work)
    if args.json:
        print(
            json.dumps(
                {
                    "total": page.total,
                    "page": page.page,
                    "pages": page.pages,
                    "connections": [_row_json(r) for r in page.rows],
                },
                indent=2,
            )
        )
        return 0
    if not page.rows:
        print("No connections match.")
        return 0
    rows = [
        [
            str(r.id),
            r.provider,
            r.business_name,
            r.resource_name,
            r.member_email or "-",
            r.state,
            ago(r.last_notification_at, now),
            ago(r.last_sync_at, now),
            (r.last_error or "")[:60],
        ]
        for r in page.rows
    ]
    header = ["ID", "PROVIDER", "BUSINESS", "RESOURCE", "MEMBER", "HEALTH", "NOTIFIED", "SYNCED"]
    print(table([*header, "LAST ERROR"], rows))
    first = (page.page - 1) * args.limit + 1
    shown = f"{first}-{first + len(page.rows) - 1} of {page.total}"
    more = f"; next: --page {page.page + 1}" if page.page < page.pages else ""
    print(f"({shown}, page {page.page} of {page.pages}{more})")
    return 0


# --- show -------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    from spacecal import clock
    from spacecal.admin.data import connection_detail
    from spacecal.cli.connection_detail import detail_json, print_detail

    async def work(db: Any, settings: Any) -> tuple[Any, datetime]:
        now = clock.now()
        found = await connection_detail(
            db.engine, args.id, now=now, soon=_soon(settings), history=args.history
        )
        return found, now

    detail, now = run_with_db(args, work)
    if detail is None:
        raise CliError(f"no connection {args.id}: `spacecal connections list` shows them.")
    data = detail_json(detail)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print_detail(data, now)
    return 0


# --- resync / renew -------------------------------------------------------------------


def _bulk(args: argparse.Namespace, flag: str) -> int:
    from spacecal.cli.bulk import request_bulk, select_ids
    from spacecal.cli.progress import Progress

    if not (args.ids or args.all or getattr(args, "health", None)):
        raise CliError("name connections: give IDs, --all, or --health STATE.")
    verb = "resync" if flag == "resync_requested" else "renewal"

    async def work(db: Any, settings: Any) -> Any:
        from spacecal import clock

        business_id = await resolve_business(db.engine, getattr(args, "business", None))
        ids = await select_ids(
            db.engine,
            ids=args.ids,
            everything=args.all,
            health=getattr(args, "health", None),
            business_id=business_id,
            provider=args.provider,
            now=clock.now(),
            soon=_soon(settings),
        )
        with Progress(f"Requesting {verb}", len(ids)) as progress:
            return await request_bulk(
                db.engine, ids, flag, batch=args.batch, on_batch=progress.advance
            )

    result = run_with_db(args, work)
    print(result.summary(verb))
    return 1 if result.missing and not (result.queued or result.waiting) else 0


def cmd_resync(args: argparse.Namespace) -> int:
    return _bulk(args, "resync_requested")


def cmd_renew(args: argparse.Namespace) -> int:
    return _bulk(args, "renew_requested")


# --- the parser -----------------------------------------------------------------------

RESYNC_HELP = """\
Full resync of the named connections, exactly what the console's "Resync now" does:
the connection is flagged (resync_requested) and a keep-alive job is queued; the job
forgets the sync cursor and queues a reconcile whose full pull compares every event
of the calendar with the booking store. Should the job be lost, the keep-alive pass
finds the flag within a minute. Connections whose member must reconnect keep the
flag and resync once they do. Progress goes to stderr (a bar on a terminal).

Examples:
  spacecal connections resync 12 13
  spacecal connections resync --health failing --provider microsoft
  spacecal connections resync --all --business Riverside
"""

RENEW_HELP = """\
Renew the push channel (Google: a new channel, then the old one is stopped) or the
push subscription (Microsoft: its expiry is extended) of the named connections now,
exactly what the console's "Renew now" does: the connection is flagged
(renew_requested) and a keep-alive job is queued. Calendars that cannot be watched
(polled instead) are skipped and counted. Progress goes to stderr.

Examples:
  spacecal connections renew 12
  spacecal connections renew --all --provider google
  spacecal connections renew --health expiring
"""


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "connections",
        help="calendar connections: list, show, resync, renew",
        description="Look at calendar connections (one per member, resource and provider) "
        "and act on them, as the admin console does.",
    )
    actions = group.add_subparsers(dest="connections_command", metavar="ACTION")

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--business", metavar="ID|NAME", help="only connections of this business")
    filters.add_argument("--provider", choices=PROVIDERS, help="only this provider")

    listing = actions.add_parser(
        "list",
        parents=[data_dir, filters],
        help="connections with their health",
        description="List connections with their health (as the console computes it), the "
        "time of the last notification and sync, and the last error. Health: "
        + HEALTH_HELP
        + ". Sorted by business, provider and name.",
    )
    listing.add_argument("--health", choices=_states(), help="only connections in this state")
    listing.add_argument("--search", help="text in the name, member, resource, email or calendar")
    listing.add_argument("--limit", type=int, default=100, help="rows per page (default 100)")
    listing.add_argument("--page", type=int, default=1, help="page to show (default 1)")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(func=cmd_list)

    show = actions.add_parser(
        "show",
        parents=[data_dir],
        help="one connection, with its subscriptions and recent syncs",
        description="Everything known about one connection: health, member and account, "
        "calendar, push subscription, what is pending, the last error, its subscriptions "
        "and its recent sync history. No secret is ever shown.",
    )
    show.add_argument("id", type=int, help="the connection id (the record's Id)")
    show.add_argument("--history", type=int, default=10, help="sync runs to show (default 10)")
    show.add_argument("--json", action="store_true", help="JSON instead of text")
    show.set_defaults(func=cmd_show)

    for name, func, help_text, description in (
        ("resync", cmd_resync, "full resync now", RESYNC_HELP),
        ("renew", cmd_renew, "renew push subscriptions now", RENEW_HELP),
    ):
        action = actions.add_parser(
            name,
            parents=[data_dir, filters],
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        action.add_argument("ids", nargs="*", type=int, metavar="ID", help="connection ids")
        action.add_argument("--all", action="store_true", help="every connection (filtered)")
        action.add_argument(
            "--health", choices=_states(), help="every connection in this state (filtered)"
        )
        action.add_argument(
            "--batch", type=int, default=500, help="connections per transaction (default 500)"
        )
        action.set_defaults(func=func)
