"""Graph routes for ``/me``, ``/me/calendars`` and events (CRUD and calendar views).

Event collections (``/events``) list singles and series masters, ``$top`` (default 10)
and ``$skip`` paging with ``@odata.nextLink``. ``calendarView`` and
``/events/{id}/instances`` expand series into occurrences and exceptions.
``transactionId`` de-duplication answers 201 with the existing event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .calendar_props import filtered, show_properties, take_properties
from .errors import GraphError, not_found
from .graph_context import Caller, GraphState, check_view_range, json_body, window
from .mailbox import Mailbox
from .model import Event, Instance
from .render import calendar_json, event_json, requested_properties
from .timezones import preferred_zone


def _json(data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status)


def calendar_routes(state: GraphState) -> list[Route]:
    base = state.base_url + "/v1.0"

    def cal_body(caller: Caller, cal_id: str, expand: str | None = None) -> dict[str, Any]:
        cal = caller.mailbox.calendar(cal_id)
        body = calendar_json(cal, caller.account.display_name, caller.account.email)
        return show_properties(body, cal, expand)

    def cal_id_of(request: Request, mailbox: Mailbox) -> str:
        cal_id = request.path_params.get("cal")
        return str(cal_id) if cal_id else mailbox.default_calendar.id

    def ev_body(request: Request, item: Event | Instance) -> dict[str, Any]:
        zone = preferred_zone(request.headers.get("prefer"))
        props = requested_properties(request.query_params.get("$expand"))
        return event_json(item, zone, props)

    def check_in_calendar(request: Request, item: Event | Instance) -> None:
        cal_id = request.path_params.get("cal")
        event = item.event if isinstance(item, Instance) else item
        if cal_id and event.calendar_id != cal_id:
            raise not_found()

    async def me(request: Request) -> Response:
        caller = state.caller(request, scope_needed=None)
        acc = caller.account
        return _json(
            {
                "@odata.context": f"{base}/$metadata#users/$entity",
                "id": acc.user_id,
                "displayName": acc.display_name,
                "givenName": acc.display_name.split(" ")[0],
                "surname": acc.display_name.split(" ")[-1],
                "mail": acc.email,
                "userPrincipalName": acc.email,
                "businessPhones": [],
                "jobTitle": None,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
            }
        )

    async def list_calendars(request: Request) -> Response:
        caller = state.caller(request)
        query = request.query_params
        chosen = filtered(list(caller.mailbox.calendars.values()), query.get("$filter"))
        values = [cal_body(caller, c.id, query.get("$expand")) for c in chosen]
        return _json({"@odata.context": f"{base}/$metadata#users('me')/calendars", "value": values})

    async def create_calendar(request: Request) -> Response:
        caller = state.caller(request)
        payload = await json_body(request)
        name = payload.get("name")
        if not isinstance(name, str):
            raise GraphError(400, "ErrorInvalidRequest", "The calendar name is required.")
        cal = caller.mailbox.create_calendar(name, str(payload.get("color", "auto")))
        take_properties(cal, payload)
        return _json(cal_body(caller, cal.id), 201)

    async def get_calendar(request: Request) -> Response:
        caller = state.caller(request)
        expand = request.query_params.get("$expand")
        return _json(cal_body(caller, cal_id_of(request, caller.mailbox), expand))

    async def patch_calendar(request: Request) -> Response:
        caller = state.caller(request)
        payload = await json_body(request)
        cal = caller.mailbox.patch_calendar(request.path_params["cal"], payload)
        take_properties(cal, payload)
        return _json(cal_body(caller, cal.id))

    async def delete_calendar(request: Request) -> Response:
        caller = state.caller(request)
        caller.mailbox.delete_calendar(request.path_params["cal"])
        return Response(status_code=204)

    async def list_events(request: Request) -> Response:
        caller = state.caller(request)
        cal_id = cal_id_of(request, caller.mailbox)
        events = caller.mailbox.events_in(cal_id)
        top = _int_param(request, "$top", 10)
        skip = _int_param(request, "$skip", 0)
        page = events[skip : skip + top]
        body: dict[str, Any] = {"value": [ev_body(request, e) for e in page]}
        if skip + top < len(events):
            query = dict(request.query_params)
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = f"{state.base_url}{request.url.path}?{urlencode(query)}"
        return _json(body)

    async def create_event(request: Request) -> Response:
        caller = state.caller(request)
        cal_id = cal_id_of(request, caller.mailbox)
        event, _created = caller.mailbox.create_event(cal_id, await json_body(request))
        return _json(ev_body(request, event), 201)

    async def get_event(request: Request) -> Response:
        caller = state.caller(request)
        item = caller.mailbox.resolve(request.path_params["ev"])
        check_in_calendar(request, item)
        return _json(ev_body(request, item))

    async def patch_event(request: Request) -> Response:
        caller = state.caller(request)
        item = caller.mailbox.resolve(request.path_params["ev"])
        check_in_calendar(request, item)
        updated = caller.mailbox.patch_event(request.path_params["ev"], await json_body(request))
        return _json(ev_body(request, updated))

    async def delete_event(request: Request) -> Response:
        caller = state.caller(request)
        item = caller.mailbox.resolve(request.path_params["ev"])
        check_in_calendar(request, item)
        caller.mailbox.delete_event(request.path_params["ev"])
        return Response(status_code=204)

    async def cancel_event(request: Request) -> Response:
        caller = state.caller(request)
        caller.mailbox.delete_event(request.path_params["ev"])
        return Response(status_code=202)

    async def instances(request: Request) -> Response:
        caller = state.caller(request)
        item = caller.mailbox.resolve(request.path_params["ev"])
        if isinstance(item, Instance) or item.recurrence is None:
            raise GraphError(400, "ErrorInvalidRequest", "The event is not a series master.")
        start, end = window(request)
        values = [ev_body(request, i) for i in caller.mailbox.instances(item, start, end)]
        return _json({"value": values})

    async def calendar_view(request: Request) -> Response:
        caller = state.caller(request)
        cal_id = cal_id_of(request, caller.mailbox)
        start, end = window(request)
        check_view_range(start, end)
        view = caller.mailbox.calendar_view(cal_id, start, end)
        return _json({"value": [ev_body(request, i) for i in view]})

    return [
        Route("/me", me, methods=["GET"]),
        Route("/me/calendars", list_calendars, methods=["GET"]),
        Route("/me/calendars", create_calendar, methods=["POST"]),
        Route("/me/calendar", get_calendar, methods=["GET"]),
        Route("/me/calendars/{cal}", get_calendar, methods=["GET"]),
        Route("/me/calendars/{cal}", patch_calendar, methods=["PATCH"]),
        Route("/me/calendars/{cal}", delete_calendar, methods=["DELETE"]),
        Route("/me/events", list_events, methods=["GET"]),
        Route("/me/events", create_event, methods=["POST"]),
        Route("/me/calendars/{cal}/events", list_events, methods=["GET"]),
        Route("/me/calendars/{cal}/events", create_event, methods=["POST"]),
        Route("/me/events/{ev}", get_event, methods=["GET"]),
        Route("/me/events/{ev}", patch_event, methods=["PATCH"]),
        Route("/me/events/{ev}", delete_event, methods=["DELETE"]),
        Route("/me/calendars/{cal}/events/{ev}", get_event, methods=["GET"]),
        Route("/me/calendars/{cal}/events/{ev}", patch_event, methods=["PATCH"]),
        Route("/me/calendars/{cal}/events/{ev}", delete_event, methods=["DELETE"]),
        Route("/me/events/{ev}/cancel", cancel_event, methods=["POST"]),
        Route("/me/events/{ev}/instances", instances, methods=["GET"]),
        Route("/me/calendarView", calendar_view, methods=["GET"]),
        Route("/me/calendars/{cal}/calendarView", calendar_view, methods=["GET"]),
    ]


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise GraphError(400, "BadRequest", f"Invalid value for {name}.") from exc
    if value < 0:
        raise GraphError(400, "BadRequest", f"Invalid value for {name}.")
    return value
