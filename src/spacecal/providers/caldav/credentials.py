"""What a CalDAV connection stores, and the errors only CalDAV has.

The sync engine keeps one secret string per account (encrypted, in the column that
holds OAuth refresh tokens); for CalDAV it is `CalDavCredentials.to_secret()`: the
server, the username, the app password and the URLs discovery found, so a poll
never repeats discovery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from spacecal.providers.base import Conflict, ProviderError


@dataclass(frozen=True)
class CalDavCredentials:
    """One member's CalDAV account. `server_url` is what the member typed (or the
    iCloud preset); `principal_url` and `home_url` are absolute URLs discovery found."""

    server_url: str
    username: str
    password: str = field(repr=False)
    principal_url: str
    home_url: str

    def to_secret(self) -> str:
        return json.dumps(
            {
                "server_url": self.server_url,
                "username": self.username,
                "password": self.password,
                "principal_url": self.principal_url,
                "home_url": self.home_url,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_secret(cls, secret: str) -> CalDavCredentials:
        """The credentials a secret holds; ProviderError (never quoting it) when it is
        not one spacecal wrote."""
        try:
            data = json.loads(secret)
            return cls(
                server_url=_text(data, "server_url"),
                username=_text(data, "username"),
                password=_text(data, "password"),
                principal_url=_text(data, "principal_url"),
                home_url=_text(data, "home_url"),
            )
        except (ValueError, TypeError, KeyError):
            raise ProviderError("the stored CalDAV credentials are not readable") from None


def _text(data: object, key: str) -> str:
    if not isinstance(data, dict) or not isinstance(data[key], str):
        raise TypeError(key)
    value: str = data[key]
    return value


class CalDavConnectError(Exception):
    """Connecting failed; the message is one sentence the member can act on (never an
    address, a port or a password: it must not map the internal network)."""


class CalendarCreationRefused(ProviderError):
    """The server does not let this account create calendars (MKCALENDAR and extended
    MKCOL refused): the member picks one of their calendars instead."""


class EditConflict(Conflict):
    """412 on a write with If-Match: the event changed on the server since spacecal
    read it. The next pull sees the change; the write is decided again after it."""


class InsecureTarget(ProviderError):
    """A plain-http URL for a host that is not an allowed private target, or a
    redirect to one."""
