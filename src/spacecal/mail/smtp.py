"""Putting one outgoing message on the wire: compose it (plain text, plus the iTIP
calendar as `text/calendar; method=...`), DKIM-sign it when a key is configured, and
hand it to the relay of SPACECAL_SMTP_URL with aiosmtplib.

The relay's password is in the URL; it never reaches a log or an error text (an
error names the relay's host and port only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from email.charset import QP, Charset
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib
import dkim

from spacecal import clock
from spacecal.config import Settings

# UTF-8 bodies in quoted-printable (readable where they are ASCII).
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
# Headers the DKIM signature covers (those a reader trusts).
_SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"content-type", b"mime-version"]


class RelayError(Exception):
    """The relay refused or could not be reached; the text is safe to store."""


@dataclass(frozen=True)
class Relay:
    host: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    def __repr__(self) -> str:  # never the password
        return f"Relay({self.host}:{self.port})"


def parse_relay(url: str) -> Relay:
    """smtp://[user:pass@]host[:port] (STARTTLS, required with credentials off
    loopback; 587 by default) or
    smtps://... (implicit TLS; 465 by default)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SPACECAL_SMTP_URL must look like smtp://user:pass@relay:587")
    implicit = parts.scheme == "smtps"
    return Relay(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit,
    )


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_tls_mode(relay: Relay) -> bool | None:
    """aiosmtplib's start_tls: False for smtps:// (already TLS); True (required) when
    credentials go over smtp://, so a man in the middle stripping STARTTLS cannot make
    AUTH go out in clear; None (when offered) otherwise and on loopback."""
    if relay.implicit_tls:
        return False
    if (relay.username or relay.password) and not _loopback(relay.host):
        return True
    return None


def _text_part(subtype: str, text: str) -> Message:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8)
    return part


def _plain(value: str) -> bool:
    return value.isascii() and "\r" not in value and "\n" not in value


def compose(
    *,
    to: str,
    from_address: str,
    subject: str,
    text: str,
    calendar: bytes | None,
    method: str | None,
) -> Message:
    """The message: plain text, beside it the iTIP calendar when there is one.

    Headers that are plain ASCII on one line (spacecal's own words and addresses,
    nearly always) are written as they are; anything else goes through the email
    package's header handling, which encodes non-ASCII and refuses a line break (no
    header injection through a resource's name). The plain path costs about a quarter
    of the other's CPU (1 ms against 4 per message), which a burst of invitations
    pays twice per invitation."""
    if not (_plain(to) and _plain(from_address) and _plain(subject)):
        return _compose_encoded(
            to=to,
            from_address=from_address,
            subject=subject,
            text=text,
            calendar=calendar,
            method=method,
        )
    body = _text_part("plain", text)
    if calendar is None:
        message: Message = body
    else:
        message = MIMEMultipart("alternative")
        part = _text_part("calendar", calendar.decode("utf-8"))
        if method:
            part.set_param("method", method)
        for child in (body, part):
            del child["MIME-Version"]  # once, at the top
            message.attach(child)
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or "spacecal.invalid")
    return message


def _compose_encoded(
    *,
    to: str,
    from_address: str,
    subject: str,
    text: str,
    calendar: bytes | None,
    method: str | None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    domain = from_address.rpartition("@")[2] or "spacecal.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    if calendar is not None:
        params = {"method": method} if method else {}
        message.add_alternative(
            calendar.decode("utf-8"), subtype="calendar", params=params, cte="quoted-printable"
        )
    return message


def sign(data: bytes, from_address: str, settings: Settings) -> bytes:
    """`data` with a DKIM-Signature for the From domain, when a key is configured."""
    if settings.dkim_key_file is None or not settings.dkim_selector:
        return data
    key = Path(settings.dkim_key_file).read_bytes()
    domain = from_address.rpartition("@")[2].encode()
    signature = dkim.sign(
        data,
        settings.dkim_selector.encode(),
        domain,
        key,
        include_headers=_SIGNED,
    )
    return bytes(signature) + data


class Connection:
    """One conversation with the relay for a batch of messages (each message still
    succeeds or fails on its own)."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_url:
            raise RelayError("no relay configured (SPACECAL_SMTP_URL)")
        self.settings = settings
        self.relay = parse_relay(settings.smtp_url)
        self.client: aiosmtplib.SMTP | None = None
        self.start_tls = start_tls_mode(self.relay)

    def _error(self, exc: Exception) -> RelayError:
        where = f"relay {self.relay.host}:{self.relay.port}"
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return RelayError(f"{where} answered {exc.code}")
        return RelayError(f"{where} unreachable ({type(exc).__name__})")

    async def _connect(self) -> aiosmtplib.SMTP:
        relay = self.relay
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.implicit_tls,
            start_tls=self.start_tls,
            username=relay.username,
            password=relay.password,
            timeout=self.settings.mail_timeout_seconds,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            if self.start_tls and "STARTTLS" in str(exc).upper():
                raise RelayError(
                    f"relay {relay.host}:{relay.port} does not offer STARTTLS; the password"
                    " is not sent in clear (use smtps:// or a relay offering STARTTLS)"
                ) from None
            raise self._error(exc) from None
        return client

    async def send(self, message: Message, *, sender: str, to: str) -> None:
        """Deliver one message; RelayError when the relay did not take it (the next
        message starts a fresh conversation)."""
        data = sign(message.as_bytes(), sender, self.settings)
        if self.client is None:
            self.client = await self._connect()
        try:
            await self.client.sendmail(sender, [to], data)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self.close()
            if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
                raise self._error(exc.recipients[0]) from None
            raise self._error(exc) from None

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()


async def send(settings: Settings, message: Message, *, sender: str, to: str) -> None:
    """Deliver one message to the relay in its own conversation."""
    connection = Connection(settings)
    try:
        await connection.send(message, sender=sender, to=to)
    finally:
        await connection.close()
