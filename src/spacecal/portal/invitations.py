"""The portal's Invitations page: the member's address for each resource (with a copy
button), the sender addresses invitations may come from, and recent decisions.

An extra sender address counts only once the member used the link mailed to it;
replacing an address's token keeps the old one for updates and cancels of what it
booked (mail/addresses.py).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.config import Settings
from spacecal.mail import addresses, senders
from spacecal.mail.outbox import queue_mail, recent_decisions
from spacecal.portal.data import Member
from spacecal.portal.pages import runtime
from spacecal.portal.views import current_member, local_time, member_post, redirect, render
from spacecal.web.sessions import Session

router = APIRouter(prefix="/portal/invitations", include_in_schema=False)

NOTICES = {
    "sender_added": "We mailed a confirmation link to that address. It counts as yours "
    "once you open the link.",
    "sender_confirmed": "Confirmed: invitations you send from that address now book.",
    "sender_removed": "Removed: invitations from that address no longer book.",
    "replaced": "New address made. Use it from now on; the old one still updates and "
    "cancels what it booked, and books nothing new.",
}
ERRORS = {
    "sender_invalid": "That is not an email address. Write it as name@example.com.",
    "confirm_invalid": "This confirmation link is not valid any more (used already, or "
    "replaced by a newer one). Add the address again to get a new link.",
    "unknown_resource": "That resource is not bookable here. Pick one from the list.",
    "sender_too_many": "Too many addresses are waiting for their confirmation link to be "
    "opened. Open those links, or remove addresses you do not need, then add this one.",
    "sender_too_soon": "A confirmation link went to that address less than an hour ago. "
    "Open that link, or ask again in an hour.",
}


async def _page(request: Request, session: Session, member: Member) -> Response:
    rt = runtime(request)
    domain = rt.settings.mail_domain
    async with rt.db.engine.begin() as conn:
        mine = await addresses.member_addresses(conn, member.id, domain) if domain else []
        extra = await senders.sender_rows(conn, member.id)
        decided = await recent_decisions(conn, member.id)
    names = {a.resource_id: a.resource_name for a in mine}
    decisions: list[dict[str, Any]] = [
        {
            "resource": names.get(d.resource_id, "a resource"),
            "start": d.instance_start,
            "status": d.status.lower(),
            "reason": d.reason,
        }
        for d in decided
    ]
    params = request.query_params
    page = render(
        rt,
        request,
        "invitations.html",
        {
            "member": member,
            "space_name": member.business_name,
            "enabled": bool(domain),
            "addresses": mine,
            "senders": extra,
            "decisions": decisions,
            "when": lambda v: local_time(v, member.zone),
            "page_notice": NOTICES.get(params.get("done", "")),
            "page_error": ERRORS.get(params.get("problem", "")),
            "active": "invitations",
        },
        session=session,
    )
    # The one portal page with a script (the Copy buttons): the portal's own file only.
    policy = page.headers["Content-Security-Policy"]
    page.headers["Content-Security-Policy"] = policy.replace(
        "default-src 'none';", "default-src 'none'; script-src 'self';", 1
    )
    return page


async def confirmation_mail(
    settings: Settings, conn: AsyncConnection, member: Member, address: str, token: str
) -> None:
    """Queue the link that confirms `address` as the member's (in `conn`'s transaction)."""
    link = f"{settings.effective_public_url()}/portal/invitations/senders/confirm/{token}"
    await queue_mail(
        conn,
        to=address,
        from_address=f"no-reply@{settings.mail_domain}",
        subject=f"Confirm this address for invitations at {member.business_name}",
        text=(
            f"{member.full_name} asked to book {member.business_name}'s rooms and desks by "
            f"sending invitations from {address}.\n\nIf that was you, open this link while "
            f"signed in to the members' portal:\n{link}\n\nIf it was not you, ignore this "
            "message: nothing changes."
        ),
    )


@router.get("")
async def invitations_page(request: Request) -> Response:
    rt = runtime(request)
    found = await current_member(rt, request)
    if found is None:
        return redirect("/portal/signin")
    return await _page(request, *found)


_EMAIL = re.compile(r"[^@\s\"(),:;<>\[\\\]]+@[a-z0-9-]+(\.[a-z0-9-]+)+", re.IGNORECASE)


def _email(value: str) -> str | None:
    value = value.strip()
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        return None
    return value.lower()


@router.post("/senders")
async def add_sender(request: Request) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    member, form = posted.member, posted.form
    address = _email(str(form.get("address", "")))
    if address is None:
        return redirect("/portal/invitations", problem="sender_invalid")
    if address != member.email.lower():
        async with rt.db.engine.begin() as conn:
            try:
                token = await senders.add_sender(
                    conn, member.id, address, max_pending=rt.settings.mail_senders_pending_max
                )
            except senders.SenderRefused as refused:
                return redirect("/portal/invitations", problem=f"sender_{refused.reason}")
            if token is not None:
                await confirmation_mail(rt.settings, conn, member, address, token)
    return redirect("/portal/invitations", done="sender_added")


@router.post("/senders/remove")
async def remove_sender(request: Request) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    async with rt.db.engine.begin() as conn:
        await senders.remove_sender(conn, posted.member.id, str(posted.form.get("address", "")))
    return redirect("/portal/invitations", done="sender_removed")


@router.get("/senders/confirm/{token}")
async def confirm_page(request: Request, token: str) -> Response:
    """Confirming needs the member signed in: a link alone (forwarded, scanned by a
    mail filter) does not add an address to someone's account."""
    rt = runtime(request)
    found = await current_member(rt, request)
    if found is None:
        return redirect("/portal/signin", error="signin_first")
    async with rt.db.engine.begin() as conn:
        confirmed = await senders.confirm_sender(conn, found[1].id, token)
    if confirmed is None:
        return redirect("/portal/invitations", problem="confirm_invalid")
    return redirect("/portal/invitations", done="sender_confirmed")


@router.post("/replace")
async def replace_address(request: Request) -> Response:
    rt = runtime(request)
    posted = await member_post(rt, request)
    if isinstance(posted, RedirectResponse):
        return posted
    member, form = posted.member, posted.form
    domain = rt.settings.mail_domain or ""
    try:
        resource_id = int(str(form.get("resource_id", "")))
    except ValueError:
        resource_id = 0
    async with rt.db.engine.begin() as conn:
        mine = await addresses.member_addresses(conn, member.id, domain)
        if resource_id not in {a.resource_id for a in mine}:
            return redirect("/portal/invitations", problem="unknown_resource")
        await addresses.replace_token(conn, member.id, resource_id)
    return redirect("/portal/invitations", done="replaced")
