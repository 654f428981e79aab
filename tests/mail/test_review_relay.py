"""Security review: the relay password never goes out in clear because a man in the
middle stripped STARTTLS. With credentials over smtp:// STARTTLS is required, except
on loopback (tests, a local MTA)."""

from __future__ import annotations

import pytest
from tests.mail.support import MailEnv, invitation

from spacecal.mail.smtp import Connection, RelayError, compose, parse_relay, start_tls_mode


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("smtp://user:secret@relay.example.net:587", True),  # credentials: required
        ("smtp://user@relay.example.net", True),
        ("smtp://relay.example.net:25", None),  # nothing to protect: when offered
        ("smtps://user:secret@relay.example.net", False),  # already TLS
        ("smtp://user:secret@127.0.0.1:2525", None),  # loopback
        ("smtp://user:secret@localhost:2525", None),
        ("smtp://user:secret@[::1]:2525", None),
        ("smtp://user:secret@127.0.0.1.example.net", True),  # a name, not loopback
    ],
)
def test_which_relays_must_use_starttls(url: str, mode: bool | None) -> None:
    assert start_tls_mode(parse_relay(url)) is mode


async def test_loopback_without_tls_still_sends(mail_env: MailEnv) -> None:
    assert await mail_env.handle(invitation()) == "booked"
    assert mail_env.sink.received  # the sink offers no STARTTLS


async def test_a_required_starttls_not_offered_fails_clearly(mail_env: MailEnv) -> None:
    connection = Connection(mail_env.rt.settings)
    connection.start_tls = True  # as for a remote relay with credentials
    message = compose(
        to="alice@example.com",
        from_address="room@book.riverside.test",
        subject="s",
        text="t",
        calendar=None,
        method=None,
    )
    with pytest.raises(RelayError, match="does not offer STARTTLS"):
        await connection.send(message, sender="room@book.riverside.test", to="alice@example.com")
    await connection.close()
    assert mail_env.sink.received == []
