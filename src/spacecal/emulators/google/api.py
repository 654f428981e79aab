"""Calendar v3 routes: calendars, calendarList, events, events.instances, watch and
channels.stop.

Every route authenticates the bearer token and checks its scopes (auth.py) before
anything else; bodies that are not JSON objects answer 400 parseError. `primary`
names the account's primary calendar. A deleted calendar answers 404 notFound.
calendarList is returned in one page (no paging or sync token): spacecal only reads
it to find leftovers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from spacecal.emulators.google import auth, errors, instances, listing, ops, watch
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.state import Calendar
from spacecal.emulators.google.times import zone_of

BASE = "/calendar/v3"


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request("parseError", "Parse Error") from exc
    if not isinstance(data, dict):
        raise errors.bad_request("parseError", "Parse Error")
    return data


def calendar_json(cal: Calendar) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "calendar#calendar",
        "etag": cal.etag,
        "id": cal.id,
        "summary": cal.summary,
        "timeZone": cal.time_zone,
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }
    if cal.description is not None:
        out["description"] = cal.description
    if cal.location is not None:
        out["location"] = cal.location
    return out


def calendar_list_entry(cal: Calendar) -> dict[str, Any]:
    out = calendar_json(cal)
    out.pop("conferenceProperties")
    out["kind"] = "calendar#calendarListEntry"
    out["accessRole"] = "owner"
    out["defaultReminders"] = []
    if cal.primary:
        out["primary"] = True
    return out


def api_router(ctx: GoogleContext) -> APIRouter:
    router = APIRouter(prefix=BASE)
    store = ctx.store

    def caller_of(request: Request) -> auth.Caller:
        return auth.authenticate(ctx, request.headers.get("authorization"), ctx.core.clock.now())

    def calendar_for(
        request: Request, calendar_id: str, *, write: bool, events: bool
    ) -> tuple[auth.Caller, Calendar]:
        caller = caller_of(request)
        if calendar_id == "primary":
            calendar_id = caller.email
        cal = store.calendars.get(calendar_id)
        if cal is None or cal.deleted:
            # Check scopes first: a token without calendar scopes gets 403, not 404.
            auth.check_calendar_access(caller, None, write=False, events=events)
            raise errors.not_found()
        auth.check_calendar_access(caller, cal, write=write, events=events)
        return caller, cal

    @router.post("/calendars")
    async def insert_calendar(request: Request) -> Response:
        caller = caller_of(request)
        auth.check_calendar_access(caller, None, write=True, events=False)
        body = await json_body(request)
        summary = body.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise errors.required("Missing title.")
        tz = str(body.get("timeZone") or "UTC")
        zone_of(tz)
        cal_id = ops.new_calendar_id(ctx)
        stamp = ops.Stamp(ctx)
        cal = Calendar(
            id=cal_id,
            owner=caller.email,
            summary=summary,
            time_zone=tz,
            description=body.get("description"),
            location=body.get("location"),
            created_by_client=caller.client_id,
            etag=stamp.etag,
            resource_id=ctx.core.rng.token(27),
        )
        store.calendars[cal_id] = cal
        return JSONResponse(calendar_json(cal))

    @router.get("/calendars/{calendar_id}")
    def get_calendar(request: Request, calendar_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=False, events=False)
        return JSONResponse(calendar_json(cal))

    async def write_calendar(request: Request, calendar_id: str, replace: bool) -> Response:
        _, cal = calendar_for(request, calendar_id, write=True, events=False)
        body = await json_body(request)
        if replace and not body.get("summary"):
            raise errors.required("Missing title.")
        if "summary" in body:
            if not isinstance(body["summary"], str) or not body["summary"].strip():
                raise errors.required("Missing title.")
            cal.summary = body["summary"]
        if "timeZone" in body or replace:
            tz = str(body.get("timeZone") or "UTC")
            zone_of(tz)
            cal.time_zone = tz
        for name in ("description", "location"):
            if name in body or replace:
                setattr(cal, name, body.get(name))
        cal.etag = ops.Stamp(ctx).etag
        return JSONResponse(calendar_json(cal))

    @router.patch("/calendars/{calendar_id}")
    async def patch_calendar(request: Request, calendar_id: str) -> Response:
        return await write_calendar(request, calendar_id, replace=False)

    @router.put("/calendars/{calendar_id}")
    async def update_calendar(request: Request, calendar_id: str) -> Response:
        return await write_calendar(request, calendar_id, replace=True)

    @router.delete("/calendars/{calendar_id}")
    def delete_calendar(request: Request, calendar_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=True, events=False)
        if cal.primary:
            raise errors.bad_request(
                "cannotDeletePrimaryCalendar", "The primary calendar cannot be deleted."
            )
        cal.deleted = True
        for channel in store.channels.values():
            if channel.calendar_id == cal.id:
                channel.stopped = True
        return Response(status_code=204)

    @router.get("/users/me/calendarList")
    def calendar_list(request: Request) -> Response:
        caller = caller_of(request)
        auth.check_calendar_access(caller, None, write=False, events=False)
        items = []
        for cal in store.calendars.values():
            if cal.owner != caller.email or cal.deleted:
                continue
            try:
                auth.check_calendar_access(caller, cal, write=False, events=False)
            except errors.GoogleApiError:
                continue
            items.append(calendar_list_entry(cal))
        return JSONResponse(
            {"kind": "calendar#calendarList", "etag": f'"l{store.seq}"', "items": items}
        )

    @router.get("/users/me/calendarList/{calendar_id}")
    def calendar_list_get(request: Request, calendar_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=False, events=False)
        return JSONResponse(calendar_list_entry(cal))

    @router.get("/calendars/{calendar_id}/events")
    def list_events(request: Request, calendar_id: str) -> Response:
        caller, cal = calendar_for(request, calendar_id, write=False, events=True)
        query = list(request.query_params.multi_items())
        return JSONResponse(listing.list_events(ctx, cal, query, account=caller.email))

    @router.post("/calendars/{calendar_id}/events")
    async def insert_event(request: Request, calendar_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=True, events=True)
        ev = ops.insert_event(ctx, cal, await json_body(request))
        return JSONResponse(ops.get_event(ctx, cal, ev.id))

    @router.post("/calendars/{calendar_id}/events/watch")
    async def watch_events(request: Request, calendar_id: str) -> Response:
        caller, cal = calendar_for(request, calendar_id, write=False, events=True)
        channel = watch.create_channel(ctx, cal, caller, await json_body(request))
        headers = watch.sync_headers(ctx, cal, channel)
        if ctx.settings.sync_before_watch_response:
            await ctx.core.push.send_now(
                channel.address, headers, account=channel.account, channel=channel.id
            )
        else:
            ctx.core.push.enqueue(
                channel.address, headers, account=channel.account, channel=channel.id
            )
        return JSONResponse(watch.channel_json(ctx, cal, channel))

    @router.get("/calendars/{calendar_id}/events/{event_id}/instances")
    def list_instances(request: Request, calendar_id: str, event_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=False, events=True)
        query = list(request.query_params.multi_items())
        return JSONResponse(instances.list_instances(ctx, cal, event_id, query))

    @router.get("/calendars/{calendar_id}/events/{event_id}")
    def get_event(request: Request, calendar_id: str, event_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=False, events=True)
        return JSONResponse(ops.get_event(ctx, cal, event_id))

    async def write_event(
        request: Request, calendar_id: str, event_id: str, replace: bool
    ) -> Response:
        _, cal = calendar_for(request, calendar_id, write=True, events=True)
        body = await json_body(request)
        result = ops.write_event(
            ctx, cal, event_id, body, replace=replace, if_match=request.headers.get("if-match")
        )
        return JSONResponse(result)

    @router.patch("/calendars/{calendar_id}/events/{event_id}")
    async def patch_event(request: Request, calendar_id: str, event_id: str) -> Response:
        return await write_event(request, calendar_id, event_id, replace=False)

    @router.put("/calendars/{calendar_id}/events/{event_id}")
    async def update_event(request: Request, calendar_id: str, event_id: str) -> Response:
        return await write_event(request, calendar_id, event_id, replace=True)

    @router.delete("/calendars/{calendar_id}/events/{event_id}")
    def delete_event(request: Request, calendar_id: str, event_id: str) -> Response:
        _, cal = calendar_for(request, calendar_id, write=True, events=True)
        ops.delete_event(ctx, cal, event_id, if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    @router.post("/channels/stop")
    async def stop_channel(request: Request) -> Response:
        caller = caller_of(request)
        watch.stop_channel(ctx, caller, await json_body(request))
        return Response(status_code=204)

    return router
