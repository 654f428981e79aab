"""The SMTP receiver (aiosmtpd), run by `spacecal mail` or `spacecal serve --smtp`.

Never an open relay: a recipient outside SPACECAL_MAIL_DOMAIN, or one of its
addresses that routes nowhere (an unknown token, a plain address the business did
not opt into), is refused with 550 at RCPT. SIZE is advertised and enforced while
receiving (aiosmtpd discards the rest and answers 552; nothing is stored). An
accepted message is committed, with its job, before the 250 (mail/store.py); if the
database cannot take it the client hears 451 and delivers again later.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from weakref import WeakKeyDictionary

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from spacecal import metrics
from spacecal.config import Settings
from spacecal.mail import addresses, store
from spacecal.mail.message import Recipient

log = logging.getLogger("spacecal.mail.receiver")

#: Recipients one message may name at spacecal (a meeting invites a few resources).
MAX_RECIPIENTS = 20


def _same_route(one: Recipient, other: Recipient) -> bool:
    return (one.resource_id, one.coworker_id, one.address_id) == (
        other.resource_id,
        other.coworker_id,
        other.address_id,
    )


class IntakeHandler:
    """aiosmtpd's handler: checks each recipient, stores each accepted message."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        if not settings.mail_domain:
            raise ValueError("SPACECAL_MAIL_DOMAIN is not set: set it to receive invitations")
        self._engine = engine
        self._domain = settings.mail_domain.lower()
        self._accepted: WeakKeyDictionary[Envelope, list[Recipient]] = WeakKeyDictionary()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        accepted = self._accepted.setdefault(envelope, [])
        if any(r.address == address.strip().lower() for r in accepted):
            return "250 2.1.5 OK"  # named again: recorded once
        if len(accepted) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        if addresses.parse(address, self._domain) is None:
            domain = address.rpartition("@")[2].lower().rstrip(".")
            if domain != self._domain:
                metrics.mail_refused("relay")
                return "550 5.7.1 Relaying denied"
            metrics.mail_refused("unknown")
            return "550 5.1.1 No such recipient here"
        try:
            async with self._engine.connect() as conn:
                recipient = await addresses.resolve(conn, address, self._domain)
        except Exception:
            log.exception("cannot check a recipient")
            metrics.mail_refused("unavailable")
            return "451 4.3.0 Temporarily unable to check the recipient, try again later"
        if recipient is None:
            metrics.mail_refused("unknown")
            return "550 5.1.1 No such recipient here"
        if any(_same_route(r, recipient) for r in accepted):
            return "250 2.1.5 OK"  # the same member's address in another spelling
        accepted.append(recipient)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = self._accepted.pop(envelope, [])
        raw = envelope.original_content or b""
        if not recipients:
            return "554 5.5.1 No valid recipients"
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            await store.store(
                self._engine,
                mail_from=envelope.mail_from or "",
                recipients=recipients,
                raw=raw,
                peer=str(peer),
            )
        except Exception:
            log.exception("cannot store a received message")
            return "451 4.3.0 Temporarily unable to store the message, try again later"
        return "250 2.0.0 OK: queued"


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """STARTTLS's context from SPACECAL_SMTP_TLS_CERT/_KEY (both or neither)."""
    cert, key = settings.smtp_tls_cert, settings.smtp_tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("set both SPACECAL_SMTP_TLS_CERT and SPACECAL_SMTP_TLS_KEY, or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def listen_address(settings: Settings) -> tuple[str, int]:
    """SPACECAL_SMTP_LISTEN as (host, port)."""
    value = settings.smtp_listen or ""
    host, colon, port = value.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"SPACECAL_SMTP_LISTEN {value!r}: write host:port, e.g. 0.0.0.0:25")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 (an MX listens on all)


def protocol_factory(engine: AsyncEngine, settings: Settings) -> Any:
    """Makes one aiosmtpd SMTP protocol per connection, with spacecal's limits."""
    handler = IntakeHandler(engine, settings)
    context = tls_context(settings)

    def make() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=settings.smtp_max_bytes,
            enable_SMTPUTF8=True,
            hostname=settings.mail_domain,
            ident="spacecal",
            tls_context=context,
            timeout=settings.smtp_timeout_seconds,
        )

    return make


async def start_receiver(
    engine: AsyncEngine, settings: Settings, *, host: str | None = None, port: int | None = None
) -> asyncio.Server:
    """Listen (on SPACECAL_SMTP_LISTEN unless given) in this event loop."""
    if host is None or port is None:
        host, port = listen_address(settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory(engine, settings), host, port)
    log.info("receiving mail for %s on %s:%d", settings.mail_domain, host, port)
    return server


async def run_receiver(engine: AsyncEngine, settings: Settings) -> None:
    """Receive until cancelled."""
    server = await start_receiver(engine, settings)
    async with server:
        await server.serve_forever()
