"""Google-specific control endpoints, added to the shared `/_control` router.

Member actions use the same write path as the API (ops.py), so they bump etags and
change numbers and send push notifications exactly like a change made in Google
Calendar's own UI. Errors come back in Google's error format.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, HTTPException
from starlette.responses import Response

if TYPE_CHECKING:
    from spacecal.emulators.google.emulator import GoogleEmulator


def add_google_control(router: APIRouter, emu: GoogleEmulator) -> None:
    @router.post("/clients", status_code=201)
    def register_client(body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        try:
            client = emu.register_client(
                str(body["client_id"]),
                str(body["client_secret"]),
                list(body.get("redirect_uris") or ["*"]),
            )
        except KeyError as exc:
            raise HTTPException(400, f"missing {exc}") from exc
        return {"client_id": client.client_id, "redirect_uris": client.redirect_uris}

    @router.post("/accounts/{email}/revoke")
    def revoke(email: str, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        return {"revoked": emu.revoke_consent(email, body.get("client_id"))}

    @router.get("/calendars")
    def calendars(email: str | None = None) -> list[dict[str, Any]]:
        return emu.calendars(email)

    @router.post("/calendars/{calendar_id}/events", status_code=201)
    def member_create(calendar_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        return emu.create_event(calendar_id, body)

    @router.patch("/calendars/{calendar_id}/events/{event_id}")
    def member_edit(
        calendar_id: str,
        event_id: str,
        body: dict[str, Any] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        return emu.update_event(calendar_id, event_id, body)

    @router.delete("/calendars/{calendar_id}/events/{event_id}", status_code=204)
    def member_delete(calendar_id: str, event_id: str) -> Response:
        emu.delete_event(calendar_id, event_id)
        return Response(status_code=204)

    @router.post("/calendars/{calendar_id}/events/{series_id}/instances/cancel")
    def member_cancel_instance(
        calendar_id: str,
        series_id: str,
        body: dict[str, Any] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        return emu.cancel_instance(calendar_id, series_id, str(body["original_start"]))

    @router.post("/calendars/{calendar_id}/events/{series_id}/instances/move")
    def member_move_instance(
        calendar_id: str,
        series_id: str,
        body: dict[str, Any] = Body(...),  # noqa: B008
    ) -> dict[str, Any]:
        return emu.edit_instance(
            calendar_id,
            series_id,
            str(body["original_start"]),
            {"start": body["start"], "end": body["end"]},
        )

    @router.post("/calendars/{calendar_id}/push")
    def set_push(calendar_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
        emu.set_push_supported(calendar_id, bool(body.get("supported", False)))
        return {"calendar_id": calendar_id, "push_supported": bool(body.get("supported"))}

    @router.post("/sync-tokens/expire")
    def expire(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        return {"expired": emu.expire_sync_tokens(body.get("calendar_id"))}

    @router.post("/limits")
    def limits(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        """Usage limits (limits.py): ``calendar_create_limit``, ``calendar_create_period_seconds``,
        ``read_only_seconds``, ``requests_per_minute``, ``rate_reason`` (null turns one off)."""
        s = emu.limits.settings
        if "calendar_create_limit" in body:
            s.calendar_create_limit = _opt_int(body["calendar_create_limit"])
        if "calendar_create_period_seconds" in body:
            s.calendar_create_period = timedelta(
                seconds=float(body["calendar_create_period_seconds"])
            )
        if "read_only_seconds" in body:
            s.read_only_for = timedelta(seconds=float(body["read_only_seconds"]))
        if "requests_per_minute" in body:
            s.requests_per_minute = _opt_int(body["requests_per_minute"])
        if "rate_reason" in body:
            s.rate_reason = str(body["rate_reason"])
        return {
            "calendar_create_limit": s.calendar_create_limit,
            "calendar_create_period_seconds": s.calendar_create_period.total_seconds(),
            "read_only_seconds": s.read_only_for.total_seconds(),
            "requests_per_minute": s.requests_per_minute,
            "rate_reason": s.rate_reason,
        }

    @router.get("/channels")
    def channels(calendar_id: str | None = None) -> list[dict[str, Any]]:
        return emu.channels(calendar_id)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)
