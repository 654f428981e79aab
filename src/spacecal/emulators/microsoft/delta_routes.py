"""``GET /me/calendars/{id}/calendarView/delta`` (and ``/me/calendarView/delta``).

The first request needs ``startDateTime`` and ``endDateTime``; later requests carry
only ``$skiptoken`` or ``$deltatoken`` (the links are absolute URLs under the
emulator's base URL). ``$select``, ``$expand``, ``$filter``, ``$orderby`` and
``$search`` answer 400: change tracking over calendarView supports none of them, so
a client cannot read extended properties back through delta.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import GraphError
from .graph_context import GraphState, window
from .timezones import preferred_page_size, preferred_zone

_UNSUPPORTED = ("$select", "$expand", "$filter", "$orderby", "$search")


def delta_routes(state: GraphState, expired: Callable[[Request, str], str | None]) -> list[Route]:
    """``expired(request, account)`` names a reset mode when a fault kills the token."""

    async def delta(request: Request) -> Response:
        caller = state.caller(request)
        for name in request.query_params:
            if name.lower() in _UNSUPPORTED:
                raise GraphError(
                    400,
                    "ErrorInvalidUrlQuery",
                    f"The query parameter '{name}' is not supported with change tracking "
                    "over the 'CalendarView' resource.",
                )
        mailbox = caller.mailbox
        cal_id = request.path_params.get("cal") or mailbox.default_calendar.id
        mailbox.calendar(cal_id)
        link_base = f"{state.base_url}{request.url.path}"
        skip = request.query_params.get("$skiptoken")
        token = request.query_params.get("$deltatoken")
        if skip:
            page = state.delta.page_state(mailbox, skip)
        elif token:
            mode = expired(request, caller.account.email)
            if mode is not None:
                state.delta.expire(token, mode)
            page = state.delta.resume(mailbox, token)
        else:
            start, end = window(request)
            page = state.delta.begin(mailbox, cal_id, start, end)
        if page.state.calendar_id != cal_id:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The token belongs to another calendar.")
        prefer = request.headers.get("prefer")
        size = preferred_page_size(prefer)
        body = state.delta.serve_page(page, size, preferred_zone(prefer), link_base)
        body = {"@odata.context": f"{state.base_url}/v1.0/$metadata#Collection(event)", **body}
        applied = ["odata.track-changes"]
        if size is not None:
            applied.append(f"odata.maxpagesize={min(size, 1000)}")
        return JSONResponse(body, headers={"Preference-Applied": ", ".join(applied)})

    return [
        Route("/me/calendarView/delta", delta, methods=["GET"]),
        Route("/me/calendars/{cal}/calendarView/delta", delta, methods=["GET"]),
    ]
