"""Connecting a CalDAV account: RFC 6764 discovery, the principal, the calendar home,
and the credential check, with one sentence a member can act on when it fails.

Order: the URL as typed, then `/.well-known/caldav` on its origin (redirects followed
under the credential rules of client.py), asking each for `current-user-principal`;
then the principal's `calendar-home-set`. Nothing is stored until all of it worked.
The sentences never name an address, a port or what answered there: the server URL
is typed by the member, and detailed errors would map the operator's network.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx2

from spacecal.config import Settings, get_settings
from spacecal.providers.base import (
    AccountIdentity,
    ConsentRevoked,
    ProviderError,
    Throttled,
    Transient,
)
from spacecal.providers.caldav import xml
from spacecal.providers.caldav.client import (
    AddressRefused,
    CredentialScope,
    DavClient,
    TlsProblem,
)
from spacecal.providers.caldav.credentials import (
    CalDavConnectError,
    CalDavCredentials,
    InsecureTarget,
)

WRONG_CREDENTIALS = (
    "The server refused this username and password: check them (iCloud needs an "
    "app-specific password, not your Apple ID password) and try again."
)
TLS_PROBLEM = (
    "The server's certificate is not trusted (expired, self-signed or for another "
    "name): check the address, or ask your administrator to trust it."
)
# One sentence for "nothing answered" and "something not CalDAV answered": telling
# them apart would say which ports are open (docs/security.md, no port-scan oracle).
NOT_CALDAV = (
    "No CalDAV calendars were found at this address: check the server address your "
    "calendar provider gives for CalDAV, or try again later."
)
HTTPS_ONLY = "This address must start with https://."
BAD_URL = "Enter the server address as a full URL, for example https://caldav.example.com."


def _normalized(server_url: str) -> str:
    text = server_url.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if not parts.hostname or parts.username or parts.password:
        raise CalDavConnectError(BAD_URL)
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))


async def _propfind(
    client: DavClient, url: str, props: list[xml.QName], depth: str = "0"
) -> tuple[xml.DavResponse | None, str]:
    """The first response of a PROPFIND and the final URL; None when the answer is not
    a multistatus (not a WebDAV resource). 401 raises ConsentRevoked."""
    response, final = await client.request("PROPFIND", url, body=xml.propfind(props), depth=depth)
    if response.status_code == 401:
        raise client.fail("PROPFIND", final, response)
    if response.status_code != 207:
        return None, final
    try:
        found = xml.multistatus(response.content).responses
    except ProviderError:
        return None, final
    return (found[0] if found else None), final


async def _principal(client: DavClient, server_url: str) -> str:
    parts = urlsplit(server_url)
    well_known = urlunsplit((parts.scheme, parts.netloc, "/.well-known/caldav", "", ""))
    for url in dict.fromkeys((server_url, well_known)):
        found, final = await _propfind(client, url, [xml.CURRENT_USER_PRINCIPAL])
        if found is not None:
            hrefs = found.hrefs(xml.CURRENT_USER_PRINCIPAL)
            if hrefs:
                return urljoin(final, hrefs[0])
    raise CalDavConnectError(NOT_CALDAV)


async def _discover(
    client: DavClient, scope: CredentialScope, server_url: str
) -> tuple[str, str, str | None]:
    principal = await _principal(client, server_url)
    if not scope.admit(principal):
        raise CalDavConnectError(NOT_CALDAV)
    found, final = await _propfind(
        client, principal, [xml.CALENDAR_HOME_SET, xml.CALENDAR_USER_ADDRESS_SET, xml.DISPLAYNAME]
    )
    homes = found.hrefs(xml.CALENDAR_HOME_SET) if found is not None else []
    if not homes:
        raise CalDavConnectError(NOT_CALDAV)
    home = urljoin(final, homes[0])
    if not scope.admit(home):
        raise CalDavConnectError(NOT_CALDAV)
    email = None
    if found is not None:
        for address in found.hrefs(xml.CALENDAR_USER_ADDRESS_SET):
            if address.lower().startswith("mailto:"):
                email = address[len("mailto:") :].strip().lower()
                break
    return principal, home, email


async def connect_account(
    http: httpx2.AsyncClient,
    server_url: str,
    username: str,
    password: str,
    *,
    settings: Settings | None = None,
) -> tuple[CalDavCredentials, AccountIdentity]:
    """Discover and check a member's CalDAV account; CalDavConnectError(sentence) when
    it cannot be used. `http` is the guarded client (`caldav_http_client(settings)`)."""
    settings = settings or get_settings()
    url = _normalized(server_url)
    if not username.strip() or not password:
        raise CalDavConnectError("Enter both the username and the password.")
    credentials = CalDavCredentials(url, username.strip(), password, url, url)
    scope = CredentialScope(url)
    client = DavClient(
        http,
        credentials,
        allow_private=settings.allow_private_targets,
        max_redirects=settings.caldav_max_redirects,
        scope=scope,
        deadline=settings.caldav_timeout_seconds * 3,
    )
    try:
        principal, home, email = await _discover(client, scope, url)
    except AddressRefused as exc:
        raise CalDavConnectError(f"{exc}.") from None
    except InsecureTarget:
        raise CalDavConnectError(HTTPS_ONLY) from None
    except ConsentRevoked:
        raise CalDavConnectError(WRONG_CREDENTIALS) from None
    except TlsProblem:
        raise CalDavConnectError(TLS_PROBLEM) from None
    except (Transient, Throttled):
        raise CalDavConnectError(NOT_CALDAV) from None
    except ProviderError:
        raise CalDavConnectError(NOT_CALDAV) from None
    stored = CalDavCredentials(url, username.strip(), password, principal, home)
    return stored, AccountIdentity(email=email or username.strip().lower(), subject=principal)
