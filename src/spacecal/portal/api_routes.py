"""Admin API extension: issue a one-time portal sign-in link for a coworker."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from spacecal import clock
from spacecal.portal.members import MemberNotFound, issue_sign_in_link
from spacecal.records.errors import ApiError, iso
from spacecal.records.fields import parse_path_id
from spacecal.web.auth import require
from spacecal.web.services import principal_for, services_of

router = APIRouter(tags=["Coworker"])


@router.post(
    "/api/spaces/coworkers/{id}/signinlink",
    summary="Issue a one-time members' portal sign-in link (needs Coworker-Edit)",
)
async def sign_in_link(request: Request, id: str) -> Response:
    state = services_of(request)
    principal = await principal_for(request)
    require(principal, "Coworker-Edit")
    coworker_id = parse_path_id(id)
    try:
        url, expires = await issue_sign_in_link(state.db.engine, state.settings, coworker_id)
    except MemberNotFound:
        raise ApiError(404, f"Coworker with Id {coworker_id} was not found.") from None
    now = clock.now()
    return JSONResponse(
        {
            "Status": 200,
            "Message": "A sign-in link was issued. It works once.",
            "Value": {"Id": coworker_id, "Url": url, "ExpiresOn": iso(expires)},
            "UpdatedOn": iso(now),
            "UpdatedBy": principal.email,
            "Errors": None,
            "WasSuccessful": True,
        },
        headers={"Cache-Control": "no-store"},
    )
