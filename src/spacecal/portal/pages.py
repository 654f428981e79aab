"""Sign-in, Integrations (connect, resources on/off, health, disconnect) and the OAuth
callback. Every POST checks the CSRF token first (see security.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from spacecal import clock
from spacecal.domain.account_messages import account_read_only, setup_waiting
from spacecal.portal import members
from spacecal.portal.data import (
    Member,
    load_accounts,
    load_connections,
    load_member,
    load_resources,
)
from spacecal.portal.oauth import ConnectOutcome, finish_connect, start_connect
from spacecal.portal.runtime import (
    PROVIDER_LABELS,
    PROVIDERS,
    PortalRuntime,
    admin_help,
    missing_settings,
)
from spacecal.portal.views import current_member, local_time, member_post, redirect, render
from spacecal.providers.caldav import CalendarCreationRefused
from spacecal.records.errors import ApiError
from spacecal.sync.accounts.disconnect import disconnect_account, remove_connection
from spacecal.sync.accounts.setup_rows import ProvisioningFailed, ProvisioningWaiting
from spacecal.web.auth import client_address
from spacecal.web.sessions import Session
from spacecal.web.signin_limit import guarded

router = APIRouter(prefix="/portal", include_in_schema=False)


def runtime(request: Request) -> PortalRuntime:
    rt: PortalRuntime = request.app.state.portal
    return rt


# --- sign-in ---------------------------------------------------------------------------


@router.get("")
@router.get("/")
async def integrations(request: Request) -> Response:
    rt = runtime(request)
    found = await current_member(rt, request)
    if found is None:
        return redirect("/portal/signin")
    session, member = found
    return await integrations_page(rt, request, session, member)


async def integrations_page(
    rt: PortalRuntime,
    request: Request,
    session: Session,
    member: Member,
    *,
    extra: dict[str, object] | None = None,
    status: int = 200,
) -> Response:
    """The Integrations page; `extra` adds to its context (the CalDAV form's sentence
    and what the member typed, never the password)."""
    engine = rt.db.engine
    accounts = await load_accounts(engine, member)
    connections = await load_connections(engine, member)
    resources = await load_resources(engine, member)
    providers = []
    asked_admin = request.query_params.get("error") == ConnectOutcome.ADMIN_CONSENT.value
    names = {r.id: r.name for r in resources}
    now = clock.now()
    for name in PROVIDERS:
        by_resource = {c.resource_id: c for c in connections if c.provider == name}
        missing = missing_settings(rt.settings, name)
        account = accounts.get(name)
        paused = account.writes_paused_until if account else None
        paused = paused if paused is not None and paused > now else None
        providers.append(
            {
                "name": name,
                "label": PROVIDER_LABELS[name],
                "missing": missing,
                "account": account,
                "rows": [(r, by_resource.get(r.id)) for r in resources],
                "admin_consent": admin_help(rt, name) if asked_admin and not missing else None,
                "read_only": account_read_only(name, paused, member.zone) if paused else None,
                "waiting": {
                    c.id: setup_waiting(
                        name,
                        names.get(c.resource_id, c.name),
                        max(c.setup_after, paused or c.setup_after),
                        member.zone,
                        paused=paused is not None,
                    )
                    for c in by_resource.values()
                    if c.setup_after is not None and c.health == "provisioning"
                },
            }
        )
    return render(
        rt,
        request,
        "integrations.html",
        {
            "member": member,
            "space_name": member.business_name,
            "providers": providers,
            "when": lambda v: local_time(v, member.zone),
            "active": "integrations",
            "caldav": {"error": None, "kind": None, "server_url": "", "username": ""},
            **(extra or {}),
        },
        session=session,
        status=status,
    )


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    rt = runtime(request)
    if await current_member(rt, request) is not None:
        return redirect("/portal")
    return render(rt, request, "signin.html", {"email": ""})


@router.post("/signin")
async def signin(request: Request) -> Response:
    rt = runtime(request)
    form = await rt.sessions.check_csrf(request, None)
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")
    auth = rt.services.auth

    async def check() -> members.SignedIn | None:
        if not email:
            return None
        return await members.check_password(rt.db.engine, email, password, rt.settings)

    try:
        signed_in = await guarded(
            auth.gate, auth.limiter, "portal", email, client_address(request), check
        )
    except ApiError as exc:
        answer = render(
            rt,
            request,
            "signin.html",
            {
                "email": email,
                "form_error": "Too many sign-in attempts. Wait a few minutes and "
                "try again, or ask the space's team for a sign-in link."
                if exc.status == 429
                else "The portal is busy right now. Try again in a moment.",
            },
            status=exc.status,
        )
        answer.headers.update(exc.headers or {})
        return answer
    if signed_in is None:
        return render(
            rt,
            request,
            "signin.html",
            {
                "email": email,
                "form_error": "The email or password is not right. Check both and try "
                "again; if you have no password yet, ask the space's team for a sign-in link.",
            },
            status=400,
        )
    response = redirect("/portal")
    rt.sessions.start(response, signed_in.coworker_id, signed_in.generation)
    return response


@router.get("/signin/link/{token}")
async def link_page(request: Request, token: str) -> Response:
    # A GET never uses the link up (mail scanners open links): the button POSTs. The
    # page says whom the link signs in to, so nobody signs in as someone else unawares.
    rt = runtime(request)
    holder = await members.link_holder(rt.db.engine, token)
    if holder is None:
        return redirect("/portal/signin", error="link_invalid")
    return render(rt, request, "link.html", {"token": token, "holder": holder})


@router.post("/signin/link/{token}")
async def link_signin(request: Request, token: str) -> Response:
    rt = runtime(request)
    await rt.sessions.check_csrf(request, None)
    signed_in = await members.redeem_sign_in_link(rt.db.engine, token)
    if signed_in is None:
        return redirect("/portal/signin", error="link_invalid")
    response = redirect("/portal")
    rt.sessions.start(response, signed_in.coworker_id, signed_in.generation)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    rt = runtime(request)
    await rt.sessions.check_csrf(request, rt.sessions.read(request))
    found = await current_member(rt, request)
    if found is not None:
        # Every session of this member ends, copies of this cookie included.
        await members.end_sessions(rt.db.engine, found[1].id)
    response = redirect("/portal/signin", notice="signed_out")
    rt.sessions.end(response)
    return response


# --- connect -----------------------------------------------------------------------------


def _known(provider: str) -> bool:
    return provider in PROVIDERS


@router.post("/connect/{provider}")
async def connect(request: Request, provider: str) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    if not _known(provider) or missing_settings(rt.settings, provider):
        return redirect("/portal", error="not_configured")
    if provider == "caldav":
        return redirect("/portal")  # no OAuth: its forms post to portal/caldav.py
    return redirect(await start_connect(rt, posted.member.id, provider))


@router.get("/connect/{provider}/callback")
async def connect_callback(request: Request, provider: str) -> Response:
    rt = runtime(request)
    found = await current_member(rt, request)
    if request.query_params.get("admin_consent") == "True" and not request.query_params.get("code"):
        # An administrator approved spacecal tenant-wide; they need not be a member.
        return redirect("/portal" if found else "/portal/signin", notice="admin_consented")
    if found is None:
        return redirect("/portal/signin", error="signin_first")
    if not _known(provider) or missing_settings(rt.settings, provider):
        return redirect("/portal", error="not_configured")
    params = dict(request.query_params)
    outcome = await finish_connect(rt, found[1].id, provider, params)
    if outcome is ConnectOutcome.CONNECTED:
        return redirect("/portal", notice="connected")
    return redirect("/portal", error=outcome.value)


@router.post("/accounts/{provider}/disconnect")
async def disconnect(request: Request, provider: str) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    if _known(provider):
        await disconnect_account(rt.provisioner, posted.member.id, provider)
    return redirect("/portal", notice="disconnected")


@router.post("/resources/{resource_id}/{provider}")
async def switch_resource(request: Request, resource_id: int, provider: str) -> Response:
    """The "add to my calendar" switch: add (or retry), or remove."""
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    session, member, form = posted.session, posted.member, posted.form
    if not _known(provider):
        return redirect("/portal")
    resources = {r.id: r for r in await load_resources(rt.db.engine, member)}
    connections = await load_connections(rt.db.engine, member)
    mine = next(
        (c for c in connections if c.provider == provider and c.resource_id == resource_id), None
    )
    action = form.get("action", "add")
    if action == "remove":
        if mine is not None:
            await remove_connection(rt.provisioner, mine.id)
        return redirect("/portal", notice="removed")
    if resource_id not in resources:
        return await problem_page(
            rt, request, session.coworker_id, "That resource cannot be booked."
        )
    try:
        await rt.provisioner.add_resource(member.id, provider, resource_id)
    except ProvisioningWaiting:
        # Not a failure: Integrations shows the calendar's place in the queue.
        return redirect("/portal", notice="setup_waiting")
    except ProvisioningFailed as exc:
        if isinstance(exc.__cause__, CalendarCreationRefused):
            # The server makes no calendars for this account: the member picks one.
            return redirect(f"/portal/resources/{resource_id}/caldav/pick")
        return await problem_page(
            rt, request, session.coworker_id, f"{resources[resource_id].name}: {exc}"
        )
    return redirect("/portal", notice="added")


async def problem_page(
    rt: PortalRuntime, request: Request, coworker_id: int, text: str
) -> Response:
    member = await load_member(rt.db.engine, coworker_id)
    session = rt.sessions.read(request)
    return render(
        rt,
        request,
        "problem.html",
        {
            "member": member,
            "space_name": member.business_name if member else "spacecal",
            "problem": text,
            "checked_at": clock.now(),
            "active": "integrations",
        },
        session=session,
        status=409,
    )
