"""Microsoft-specific ``/_control`` endpoints, added to the shared control router.

All under ``/_control/microsoft``; JSON in and out; datetimes ISO 8601 with offset.

- ``POST accounts/{email}/calendars`` ``{"name"}`` → the calendar.
- ``POST accounts/{email}/events`` ``{"calendar_id"?, "subject", "start", "end",
  "time_zone"?, "recurrence"?}`` → the event (a series with ``recurrence``).
- ``PATCH accounts/{email}/events/{id}`` Graph-shaped patch (event, series or
  occurrence id); ``DELETE accounts/{email}/events/{id}``.
- ``POST accounts/{email}/events/{series}/occurrences/cancel`` ``{"original_start"}``;
  ``POST .../occurrences/move`` ``{"original_start", "start", "end", "time_zone"?}``.
- ``POST accounts/{email}/revoke-consent`` ``{"client_id"?}``;
  ``POST accounts/{email}/invalidate-old-refresh-tokens``;
  ``POST accounts/{email}/expire-access-tokens``;
  ``POST accounts/{email}/reset-delta`` ``{"mode"?: "SyncStateNotFound"|"resyncRequired"}``.
- ``GET subscriptions``; ``POST subscriptions/{id}/lifecycle`` ``{"event"}``.
- ``POST throttle`` ``{"limit"?: int|null, "hold_seconds"?, "retry_after"?}``.
- ``POST settings`` ``{"subscription_max_minutes"?, "subscription_min_minutes"?,
  "delta_shuffle"?, "delta_replay_rate"?, "report_outside_window"?,
  "strict_rotation"?}``.
- ``POST consent-policy`` ``{"admin_consent_required"?: bool, "admin_consented"?:
  [client_id, ...]}``: the tenant's user-consent policy and its tenant-wide approvals.
- ``GET notifications?account=`` → the delivery log (validations included).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException, Response

from .errors import GraphError

if TYPE_CHECKING:
    from .emulator import MicrosoftEmulator

T = TypeVar("T")


def _dt(body: dict[str, Any], key: str) -> datetime:
    raw = body.get(key)
    if not isinstance(raw, str):
        raise HTTPException(400, f"{key} is required")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise HTTPException(400, f"{key} is not an ISO datetime") from exc
    if value.tzinfo is None:
        raise HTTPException(400, f"{key} needs an offset")
    return value


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except KeyError as exc:
        raise HTTPException(404, str(exc)) from exc
    except GraphError as exc:
        raise HTTPException(exc.status, f"{exc.code}: {exc.message}") from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


def add_microsoft_control(router: APIRouter, emu: MicrosoftEmulator) -> None:
    prefix = "/microsoft"
    JsonBody = Body(default_factory=dict)

    @router.post(prefix + "/accounts/{email}/calendars", status_code=201)
    async def create_calendar(email: str, body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        return _run(lambda: emu.create_calendar(email, str(body.get("name", ""))))

    @router.post(prefix + "/accounts/{email}/events", status_code=201)
    async def create_event(email: str, body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        start, end = _dt(body, "start"), _dt(body, "end")
        return _run(
            lambda: emu.create_event(
                email,
                body.get("calendar_id"),
                str(body.get("subject", "")),
                start,
                end,
                time_zone=str(body.get("time_zone", "UTC")),
                recurrence=body.get("recurrence"),
            )
        )

    @router.patch(prefix + "/accounts/{email}/events/{event_id}")
    async def edit_event(
        email: str, event_id: str, body: dict[str, Any] = JsonBody
    ) -> dict[str, Any]:
        return _run(lambda: emu.edit_event(email, event_id, body))

    @router.delete(prefix + "/accounts/{email}/events/{event_id}", status_code=204)
    async def delete_event(email: str, event_id: str) -> Response:
        _run(lambda: emu.delete_event(email, event_id))
        return Response(status_code=204)

    @router.post(prefix + "/accounts/{email}/events/{series_id}/occurrences/cancel")
    async def cancel_occurrence(
        email: str, series_id: str, body: dict[str, Any] = JsonBody
    ) -> dict[str, Any]:
        original = _dt(body, "original_start")
        occ = _run(lambda: emu.cancel_occurrence(email, series_id, original))
        return {"id": occ}

    @router.post(prefix + "/accounts/{email}/events/{series_id}/occurrences/move")
    async def move_occurrence(
        email: str, series_id: str, body: dict[str, Any] = JsonBody
    ) -> dict[str, Any]:
        original, start, end = _dt(body, "original_start"), _dt(body, "start"), _dt(body, "end")
        zone = str(body.get("time_zone", "UTC"))
        return _run(lambda: emu.move_occurrence(email, series_id, original, start, end, zone))

    @router.post(prefix + "/accounts/{email}/revoke-consent")
    async def revoke_consent(email: str, body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        _run(lambda: emu.revoke_consent(email, body.get("client_id")))
        return {"revoked": True}

    @router.post(prefix + "/accounts/{email}/invalidate-old-refresh-tokens")
    async def invalidate_old(email: str) -> dict[str, Any]:
        return {"invalidated": _run(lambda: emu.invalidate_old_refresh_tokens(email))}

    @router.post(prefix + "/accounts/{email}/expire-access-tokens")
    async def expire_access(email: str) -> dict[str, Any]:
        _run(lambda: emu.expire_access_tokens(email))
        return {"expired": True}

    @router.post(prefix + "/accounts/{email}/reset-delta")
    async def reset_delta(email: str, body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        mode = str(body.get("mode", "SyncStateNotFound"))
        _run(lambda: emu.reset_delta(email, mode))
        return {"reset": True, "mode": mode}

    @router.get(prefix + "/subscriptions")
    async def subscriptions() -> list[dict[str, Any]]:
        return emu.list_subscriptions()

    @router.post(prefix + "/subscriptions/{sub_id}/lifecycle")
    async def lifecycle(sub_id: str, body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        return _run(lambda: emu.trigger_lifecycle(sub_id, str(body.get("event", ""))))

    @router.post(prefix + "/throttle")
    async def throttle(body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        limit = body.get("limit", 4)
        emu.set_concurrency_limit(
            int(limit) if limit is not None else None,
            hold_seconds=float(body.get("hold_seconds", 0.0)),
            retry_after=int(body.get("retry_after", 1)),
        )
        return {"limit": emu.limiter.limit, "hold_seconds": emu.limiter.hold_seconds}

    @router.post(prefix + "/settings")
    async def settings(body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        def apply() -> None:
            emu.set_subscription_limits(
                maximum_minutes=body.get("subscription_max_minutes"),
                minimum_minutes=body.get("subscription_min_minutes"),
            )
            emu.set_delta_behaviour(
                shuffle=body.get("delta_shuffle"),
                replay_rate=body.get("delta_replay_rate"),
                report_outside_window=body.get("report_outside_window"),
            )
            if "strict_rotation" in body:
                emu.identity.strict_rotation = bool(body["strict_rotation"])

        _run(apply)
        return {"applied": sorted(body)}

    @router.post(prefix + "/consent-policy")
    async def consent_policy(body: dict[str, Any] = JsonBody) -> dict[str, Any]:
        store = emu.identity
        if "admin_consent_required" in body:
            store.admin_consent_required = bool(body["admin_consent_required"])
        if "admin_consented" in body:
            store.admin_consented = {str(c) for c in body["admin_consented"] or []}
        return {
            "admin_consent_required": store.admin_consent_required,
            "admin_consented": sorted(store.admin_consented),
        }

    @router.get(prefix + "/notifications")
    async def notifications(account: str | None = None) -> list[dict[str, Any]]:
        return [r.as_dict() for r in emu.notifications(account)]
