"""`spacecal connections show`: one connection as JSON-ready data, and as text.

Built from the console's read model (spacecal.admin.data.Detail), which selects no
secret column; the sync cursor appears only as "stored" or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spacecal.cli.table import ago, iso, table


def detail_json(detail: Any) -> dict[str, Any]:
    r = detail.row
    return {
        "id": r.id,
        "provider": r.provider,
        "name": r.name,
        "health": r.state,
        "stored_health": r.stored_health,
        "business": {"id": r.business_id, "name": r.business_name},
        "resource": {"id": r.resource_id, "name": r.resource_name},
        "member": {"id": r.member_id, "name": r.member_name, "email": r.member_email},
        "account": {
            "email": r.account_email,
            "status": r.account_status,
            "reason": r.account_reason,
        },
        "calendar_id": r.calendar_id,
        "subscription_id": r.subscription_id,
        "subscription_expires_at": iso(r.subscription_expire_date),
        "push_supported": r.push_supported,
        "has_cursor": bool(r.has_cursor),
        "last_notification_at": iso(r.last_notification_at),
        "last_sync_at": iso(r.last_sync_at),
        "last_error": r.last_error,
        "last_error_at": iso(r.last_error_at),
        "consecutive_failures": r.consecutive_failures,
        "retry_at": iso(r.retry_at),
        "renewal_failures": r.renewal_failures,
        "renewal_retry_at": iso(r.renewal_retry_at),
        "pending": {
            "resync_requested": r.resync_requested,
            "renew_requested": r.renew_requested,
            "rename_pending": r.rename_pending,
            "notifications_pending": r.notifications_pending,
            "sync_requested_at": iso(r.sync_requested_at),
            "reconcile_queued": bool(r.queued),
            "reconcile_running": bool(r.running),
        },
        "sync_window": [iso(r.sync_window_start), iso(r.sync_window_end)],
        "subscriptions": [
            {
                "subscription_id": g.subscription_id,
                "status": g.status,
                "created_at": iso(g.created_at),
                "expires_at": iso(g.expires_at),
            }
            for g in detail.generations
        ],
        "history": [
            {
                "started_at": iso(run.started_at),
                "finished_at": iso(run.finished_at),
                "outcome": run.outcome,
                "full_sync": run.full_sync,
                "changes_pulled": run.changes_pulled,
                "writes": run.writes,
                "error": run.error,
            }
            for run in detail.runs
        ],
    }


def print_detail(data: dict[str, Any], now: datetime) -> None:
    def line(label: str, value: object) -> None:
        print(f"  {label:<24} {'-' if value is None or value == '' else value}")

    def when(value: str | None) -> str:
        return "never" if value is None else f"{value} ({ago(datetime.fromisoformat(value), now)})"

    print(f"Connection {data['id']} ({data['provider']}): {data['name']}")
    line("health", data["health"])
    line("business", f"{data['business']['name']} ({data['business']['id']})")
    line("resource", f"{data['resource']['name']} ({data['resource']['id']})")
    member = data["member"]
    line("member", f"{member['name']} <{member['email']}>" if member["email"] else None)
    account = data["account"]
    line("account", f"{account['email']} ({account['status']})" if account["status"] else None)
    if account["reason"] and account["status"] != "active":
        line("account reason", account["reason"])
    line("calendar", data["calendar_id"])
    line("push", "supported" if data["push_supported"] else "not supported: polled")
    line("subscription", data["subscription_id"])
    line("subscription expires", when(data["subscription_expires_at"]))
    line("last notification", when(data["last_notification_at"]))
    line("last sync", when(data["last_sync_at"]))
    line("sync cursor", "stored" if data["has_cursor"] else "none: next sync is a full pull")
    if data["last_error"]:
        line("last error", data["last_error"])
        line("last error at", when(data["last_error_at"]))
    if data["consecutive_failures"]:
        line("sync failures in a row", data["consecutive_failures"])
        line("next retry", when(data["retry_at"]))
    if data["renewal_failures"]:
        line("renewal failures in a row", data["renewal_failures"])
        line("next renewal retry", when(data["renewal_retry_at"]))
    pending = [
        k.replace("_", " ") for k, v in data["pending"].items() if v and k != "sync_requested_at"
    ]
    line("pending", ", ".join(pending) or "nothing")
    if data["subscriptions"]:
        print("Subscriptions (newest first):")
        print(
            table(
                ["SUBSCRIPTION", "STATUS", "CREATED", "EXPIRES"],
                [
                    [
                        s["subscription_id"],
                        s["status"],
                        s["created_at"] or "-",
                        s["expires_at"] or "-",
                    ]
                    for s in data["subscriptions"]
                ],
                indent="  ",
            )
        )
    print("Recent syncs (newest first):" if data["history"] else "No sync has run yet.")
    if data["history"]:
        print(
            table(
                ["STARTED", "OUTCOME", "FULL", "PULLED", "WRITES", "ERROR"],
                [
                    [
                        h["started_at"] or "-",
                        h["outcome"] or "running",
                        "yes" if h["full_sync"] else "",
                        str(h["changes_pulled"]),
                        str(h["writes"]),
                        (h["error"] or "")[:70],
                    ]
                    for h in data["history"]
                ],
                indent="  ",
            )
        )
