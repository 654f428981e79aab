"""Queueing what a decision owes: the iTIP REPLYs to the organizer (from the address
the invitation reached) and the confirmation to the member's registered address."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.domain import invitation_messages as words
from spacecal.mail import itip, outbox
from spacecal.mail.decide import Context, Decided, Reply


async def queue_decided(
    ctx: Context,
    conn: AsyncConnection,
    *,
    uid: str,
    organizer: str,
    member_email: str,
    decided: Decided,
    portal: str,
) -> list[int]:
    queued: list[int] = []
    if decided.lines:
        queued.append(
            await outbox.queue_mail(
                conn,
                to=member_email,
                from_address=ctx.address,
                subject=words.confirmation_subject(ctx.resource_name, decided.lines),
                text=words.confirmation_text(ctx.resource_name, decided.lines, ctx.zone, portal),
            )
        )
    for reply in decided.replies[: words.MAX_LISTED]:
        queued.append(await queue_reply(ctx, conn, uid, organizer, reply))
    return queued


async def queue_reply(
    ctx: Context, conn: AsyncConnection, uid: str, organizer: str, reply: Reply
) -> int:
    comment = reply.line.reason if not reply.accepted else ""
    calendar = itip.reply(
        uid=uid,
        recurrence_id=reply.recurrence_id,
        sequence=reply.sequence,
        organizer=organizer,
        attendee=ctx.address,
        accepted=reply.accepted,
        comment=comment,
        now=ctx.now,
    )
    return await outbox.queue_mail(
        conn,
        to=organizer,
        from_address=ctx.address,
        subject=words.reply_subject(ctx.resource_name, reply.accepted),
        text=words.reply_text(ctx.resource_name, reply.line, ctx.zone, series=reply.series),
        calendar=calendar,
        method="REPLY",
    )
