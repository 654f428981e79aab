"""The connection page's buttons: resync now and renew now (role `Edit` of the
connection's record) and disconnect (role `Delete`), each a POST that checks the
CSRF token first, then the role, then acts (actions.py) and sends the browser back
with what happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spacecal.admin import actions, data
from spacecal.admin.access import need
from spacecal.admin.actions import Outcome
from spacecal.admin.runtime import runtime
from spacecal.admin.signin import checked_form
from spacecal.admin.views import redirect
from spacecal.sync.accounts.provisioning import Provisioner

router = APIRouter(prefix="/admin", include_in_schema=False)

Action = Callable[[Provisioner, int, str], Awaitable[Outcome]]


async def _press(
    request: Request, connection_id: str, operation: str, action: Action, name: str
) -> Response:
    rt = runtime(request)
    found = await rt.current_user(request)
    form = await checked_form(rt, request, found[0] if found else None)
    if found is None:
        return redirect("/admin/signin", error="signin_first")
    user = found[1]
    ident = int(connection_id) if connection_id.isdigit() and len(connection_id) <= 18 else None
    provider = await data.connection_provider(rt.db.engine, ident) if ident is not None else None
    if ident is None or provider is None:
        return redirect("/admin/connections", error="gone")
    need(user, provider, operation)
    page = f"/admin/connections/{ident}"
    if name == "disconnect" and form.get("confirm") != "yes":
        return redirect(page, error="confirm_disconnect")
    outcome = await action(rt.provisioner, ident, user.email)
    if outcome is Outcome.GONE:
        return redirect("/admin/connections", error="gone")
    if name == "disconnect":
        return redirect("/admin/connections", notice="disconnected")
    if outcome is Outcome.NOT_WATCHED:
        return redirect(page, error="not_watched")
    if outcome is Outcome.WAITS_FOR_RECONNECT:
        return redirect(page, notice=f"{name}_waits")
    return redirect(page, notice=f"{name}_queued")


@router.post("/connections/{connection_id}/resync")
async def resync(request: Request, connection_id: str) -> Response:
    return await _press(request, connection_id, "Edit", actions.request_resync, "resync")


@router.post("/connections/{connection_id}/renew")
async def renew(request: Request, connection_id: str) -> Response:
    return await _press(request, connection_id, "Edit", actions.request_renew, "renew")


@router.post("/connections/{connection_id}/disconnect")
async def disconnect(request: Request, connection_id: str) -> Response:
    return await _press(request, connection_id, "Delete", actions.disconnect, "disconnect")
