"""Connecting a CalDAV account from Integrations: "Apple iCloud" (the server preset,
Apple ID and an app-specific password) and "Other calendar (CalDAV)" (server URL,
username, password), and picking a calendar per resource on servers that refuse
to create one.

Every POST checks the CSRF token first. The typed server goes through the outbound
guard (`caldav_http_client`); a failure shows `connect_account`'s sentence and
stores nothing. The password is never echoed back into the page.

A connect is a password check against someone's server, so it is throttled like a
sign-in (`web/signin_limit.py`, keys under `caldav:`): a slot per member + server host
(`SPACECAL_CALDAV_CONNECT_MAX_FAILURES`), per host for all members
(`SPACECAL_CALDAV_CONNECT_HOST_MAX_FAILURES`) and per member; a failed connect keeps
its slot, a successful one gives it back.
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from spacecal.portal.data import load_resources
from spacecal.portal.pages import integrations_page, problem_page, runtime
from spacecal.portal.views import current_member, member_post, redirect, render
from spacecal.providers.caldav import CalDavConnectError, caldav_http_client, connect_account
from spacecal.records.errors import ApiError
from spacecal.sync.accounts.caldav import (
    account_id_of,
    member_calendars,
    pick_calendar,
    save_caldav_account,
)
from spacecal.sync.accounts.setup_rows import ProvisioningFailed, ProvisioningWaiting
from spacecal.web.signin_limit import SignInLimiter

router = APIRouter(prefix="/portal", include_in_schema=False)

ICLOUD_SERVER = "https://caldav.icloud.com"
ICLOUD_HELP = "https://support.apple.com/en-us/102654"
KINDS = ("icloud", "other")


@router.post("/caldav/connect")
async def connect_caldav(request: Request) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    session, member, form = posted.session, posted.member, posted.form
    kind = form.get("kind", "other")
    kind = kind if kind in KINDS else "other"
    server_url = ICLOUD_SERVER if kind == "icloud" else form.get("server_url", "").strip()
    username = form.get("username", "").strip()[:320]
    password = form.get("password", "")
    typed = {"kind": kind, "server_url": server_url[:1024], "username": username}
    if not server_url:
        return await integrations_page(
            rt,
            request,
            session,
            member,
            extra={"caldav": {**typed, "error": "Enter your calendar server's address."}},
            status=400,
        )
    settings = rt.settings
    limiter = SignInLimiter(
        rt.db.engine,
        settings,
        limits=(
            settings.caldav_connect_max_failures,
            settings.caldav_connect_host_max_failures,
            settings.caldav_connect_max_failures,
        ),
        window=settings.caldav_connect_window_seconds,
    )
    host = (urlsplit(server_url).hostname or server_url).lower()[:255]
    try:
        slot = await limiter.reserve("caldav", f"member:{member.id}", f"host:{host}")
    except ApiError as exc:
        wait = math.ceil(int((exc.headers or {}).get("Retry-After", "60")) / 60)
        error = (
            "Too many failed attempts to connect a calendar. "
            f"Wait {wait} minute{'s' if wait != 1 else ''}, check the password, and try again."
        )
        return await integrations_page(
            rt, request, session, member, extra={"caldav": {**typed, "error": error}}, status=429
        )
    try:
        async with caldav_http_client(settings) as http:
            credentials, identity = await connect_account(
                http, server_url, username, password, settings=settings
            )
    except CalDavConnectError as exc:
        return await integrations_page(
            rt, request, session, member, extra={"caldav": {**typed, "error": str(exc)}}, status=400
        )
    await slot.succeeded()
    await save_caldav_account(rt.provisioner, member.id, credentials, identity)
    return redirect("/portal", notice="connected")


@router.get("/resources/{resource_id}/caldav/pick")
async def pick_page(request: Request, resource_id: int) -> Response:
    rt = runtime(request)
    found = await current_member(rt, request)
    if found is None:
        return redirect("/portal/signin")
    session, member = found
    resources = {r.id: r for r in await load_resources(rt.db.engine, member)}
    if resource_id not in resources:
        return await problem_page(rt, request, member.id, "That resource cannot be booked.")
    account_id = await account_id_of(rt.provisioner, member.id)
    if account_id is None:
        return redirect("/portal", error="not_configured")
    try:
        calendars = await member_calendars(rt.provisioner, account_id)
    except ProvisioningFailed as exc:
        return await problem_page(rt, request, member.id, str(exc))
    return render(
        rt,
        request,
        "caldav_pick.html",
        {
            "member": member,
            "space_name": member.business_name,
            "resource": resources[resource_id],
            "calendars": calendars,
            "active": "integrations",
        },
        session=session,
    )


@router.post("/resources/{resource_id}/caldav/pick")
async def pick(request: Request, resource_id: int) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    member, form = posted.member, posted.form
    resources = {r.id: r for r in await load_resources(rt.db.engine, member)}
    if resource_id not in resources:
        return await problem_page(rt, request, member.id, "That resource cannot be booked.")
    calendar_id = form.get("calendar_id", "")
    if not calendar_id:
        return redirect(f"/portal/resources/{resource_id}/caldav/pick")
    try:
        await pick_calendar(rt.provisioner, member.id, resource_id, calendar_id)
    except ProvisioningWaiting:
        return redirect("/portal", notice="setup_waiting")
    except ProvisioningFailed as exc:
        return await problem_page(rt, request, member.id, f"{resources[resource_id].name}: {exc}")
    return redirect("/portal", notice="added")
