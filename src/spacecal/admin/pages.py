"""The console's pages: connections (summary, search, filters, paging), one
connection (fields, subscriptions, sync history, buttons) and activity (charts).

Signed out, a page sends you to sign in; signed in without the role it needs, it
answers 403 with the role to ask for (access.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spacecal import activity, clock
from spacecal.admin import chart, data
from spacecal.admin.access import PROVIDERS, AdminUser, need, need_any
from spacecal.admin.health import STATES
from spacecal.admin.runtime import AdminRuntime, runtime
from spacecal.admin.views import redirect, render
from spacecal.web.sessions import Session

router = APIRouter(prefix="/admin", include_in_schema=False)


async def signed_in(rt: AdminRuntime, request: Request) -> tuple[Session, AdminUser] | None:
    return await rt.current_user(request)


def _int(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > 18:
        return None
    return int(raw.strip())


def _providers(user: AdminUser, operation: str, picked: str | None) -> tuple[str, ...]:
    """The providers a page shows: the user's, narrowed to the one picked."""
    allowed = need_any(user, operation)
    if picked in PROVIDERS:
        assert picked is not None
        need(user, picked, operation)
        return (picked,)
    return allowed


def _soon(rt: AdminRuntime) -> timedelta:
    return timedelta(seconds=rt.settings.admin_expiring_soon_seconds)


@router.get("/connections")
async def connections(request: Request) -> Response:
    rt = runtime(request)
    found = await signed_in(rt, request)
    if found is None:
        return redirect("/admin/signin")
    session, user = found
    params = request.query_params
    picked = params.get("provider") or None
    providers = _providers(user, "List", picked)
    state = params.get("health") if params.get("health") in STATES else None
    filters = data.Filters(
        providers=providers,
        business_id=_int(params.get("business")),
        state=state,
        search=(params.get("q") or "")[:200],
    )
    now = clock.now()
    engine = rt.db.reads
    page = await data.list_connections(
        engine,
        filters,
        now=now,
        soon=_soon(rt),
        page=_int(params.get("page")) or 1,
        size=rt.settings.admin_page_size,
    )
    current = {
        "q": filters.search,
        "business": str(filters.business_id or ""),
        "provider": picked if picked in PROVIDERS else "",
        "health": state or "",
    }

    def link(**changes: Any) -> str:
        query = {k: v for k, v in {**current, **changes}.items() if v not in ("", None)}
        return "/admin/connections" + (f"?{urlencode(query)}" if query else "")

    return render(
        rt,
        request,
        "connections.html",
        {
            "active": "connections",
            "page": page,
            "current": current,
            "link": link,
            "summary": await data.summary(engine, user.providers("List"), now=now, soon=_soon(rt)),
            "businesses": await data.businesses(engine),
            "visible_providers": user.providers("List"),
            "states": STATES,
            "can_read": {p: user.may(p, "Read") for p in PROVIDERS},
        },
        session=session,
        user=user,
    )


@router.get("/connections/{connection_id}")
async def connection(request: Request, connection_id: str) -> Response:
    rt = runtime(request)
    found = await signed_in(rt, request)
    if found is None:
        return redirect("/admin/signin")
    session, user = found
    ident = _int(connection_id)
    detail = None
    if ident is not None:
        provider = await data.connection_provider(rt.db.reads, ident)
        if provider is not None:
            need(user, provider, "Read")
            detail = await data.connection_detail(
                rt.db.reads,
                ident,
                now=clock.now(),
                soon=_soon(rt),
                history=rt.settings.admin_history_size,
            )
    if detail is None:
        return render(
            rt,
            request,
            "problem.html",
            {
                "problem": "There is no connection with that id (it may have been "
                "disconnected). Find it again in the list of connections.",
                "heading": "Not found",
            },
            session=session,
            user=user,
            status=404,
        )
    provider = detail.row.provider
    return render(
        rt,
        request,
        "connection.html",
        {
            "active": "connections",
            "c": detail.row,
            "generations": detail.generations,
            "runs": detail.runs,
            "can_edit": user.may(provider, "Edit"),
            "can_delete": user.may(provider, "Delete"),
        },
        session=session,
        user=user,
    )


@router.get("/activity")
async def activity_page(request: Request) -> Response:
    rt = runtime(request)
    found = await signed_in(rt, request)
    if found is None:
        return redirect("/admin/signin")
    session, user = found
    picked = request.query_params.get("provider") or None
    providers = _providers(user, "List", picked)
    business_id = _int(request.query_params.get("business"))
    series = await chart.load_series(
        rt.db.reads, clock.now(), business_id=business_id, providers=providers
    )
    return render(
        rt,
        request,
        "activity.html",
        {
            "active": "activity",
            "charts": [(s, chart.svg(s)) for s in series],
            "kinds": activity.KINDS,
            "kind_labels": chart.KIND_LABELS,
            "kind_colours": chart.KIND_COLOURS,
            "businesses": await data.businesses(rt.db.reads),
            "visible_providers": user.providers("List"),
            "current": {
                "business": str(business_id or ""),
                "provider": picked if picked in PROVIDERS else "",
            },
        },
        session=session,
        user=user,
    )
