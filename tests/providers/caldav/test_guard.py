"""Where CalDAV requests may go and what a failing server means: the outbound guard,
https only for public hosts, credentials kept to their origin across redirects, and
5xx/timeouts classified. Tiny loopback HTTP servers stand in for hostile ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from spacecal.config import Settings
from spacecal.providers.base import SyncWindow, Throttled, Transient
from spacecal.providers.caldav import (
    CalDavConnectError,
    CalDavCredentials,
    CalDavProvider,
    caldav_http_client,
    connect_account,
)
from spacecal.providers.caldav.client import CredentialScope, DavClient, same_site
from spacecal.providers.guard import NOT_ALLOWED

WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))


@dataclass
class Tiny:
    """A loopback HTTP/1.1 server answering every request with `answer(headers)`."""

    answer: Callable[[dict[str, str]], bytes]
    delay: float = 0.0
    connections: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers: dict[str, str] = {}
            for line in head.decode().split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if length:
                await reader.readexactly(length)
            self.seen.append(headers)
            await asyncio.sleep(self.delay)
            writer.write(self.answer(headers))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture
async def tiny() -> AsyncIterator[Callable[..., Tiny]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[[dict[str, str]], bytes], delay: float = 0.0) -> Tiny:
        made = Tiny(answer, delay)
        server = await asyncio.start_server(made.handle, "127.0.0.1", 0)
        made.port = server.sockets[0].getsockname()[1]
        servers.append(server)
        return made

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()
        await server.wait_closed()


def reply(status: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def credentials(url: str) -> CalDavCredentials:
    return CalDavCredentials(url, "ann", "s3cret-app-password", url, url)


async def test_private_address_refused_before_any_connection(tiny: Callable[..., Tiny]) -> None:
    server = await tiny(lambda h: reply("207 Multi-Status"))
    settings = Settings(allow_private_targets=False)
    async with caldav_http_client(settings) as http:
        with pytest.raises(CalDavConnectError) as caught:
            await connect_account(http, server.url, "ann", "pw", settings=settings)
    assert NOT_ALLOWED in str(caught.value)
    assert str(server.port) not in str(caught.value)
    assert server.connections == 0


async def test_private_name_refused_without_the_setting() -> None:
    settings = Settings(allow_private_targets=False)
    async with caldav_http_client(settings) as http:
        with pytest.raises(CalDavConnectError, match="address not allowed"):
            await connect_account(http, "https://localhost:1/dav/", "ann", "pw", settings=settings)
        # Metadata stays refused whatever the setting.
    allowed = Settings(allow_private_targets=True)
    async with caldav_http_client(allowed) as http:
        with pytest.raises(CalDavConnectError, match="address not allowed"):
            await connect_account(http, "https://169.254.169.254/", "ann", "pw", settings=allowed)


async def test_plain_http_refused_for_a_public_host() -> None:
    settings = Settings(allow_private_targets=True)
    async with caldav_http_client(settings) as http:
        with pytest.raises(CalDavConnectError, match="must start with https://"):
            await connect_account(http, "http://93.184.215.14/dav/", "ann", "pw", settings=settings)


async def test_credentials_not_sent_across_origins_on_redirect(tiny: Callable[..., Tiny]) -> None:
    elsewhere = await tiny(lambda h: reply("401 Unauthorized"))
    first = await tiny(
        lambda h: reply("301 Moved Permanently", {"Location": elsewhere.url + "dav/"})
    )
    settings = Settings(allow_private_targets=True)
    async with caldav_http_client(settings) as http:
        dav = DavClient(http, credentials(first.url), allow_private=True, max_redirects=3)
        response, final = await dav.request("PROPFIND", first.url, body=b"<x/>", depth="0")
    assert response.status_code == 401
    assert final == elsewhere.url + "dav/"
    assert first.seen[0]["authorization"].startswith("Basic ")
    assert "authorization" not in elsewhere.seen[0]


def test_same_site_rule() -> None:
    assert same_site("caldav.icloud.com", "p42-caldav.icloud.com")
    assert not same_site("caldav.icloud.com", "icloud.com.evil.example")
    assert not same_site("example.co.uk", "attacker.co.uk")
    assert not same_site("fastmail.com", "evil.com")
    scope = CredentialScope("https://caldav.icloud.com/")
    assert scope.admit("https://p42-caldav.icloud.com:443/123/principal/")
    assert not scope.admit("http://p42-caldav.icloud.com/123/")  # never over http
    assert not scope.admit("https://caldav.example.net/")


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (reply("503 Service Unavailable"), Transient),
        (reply("500 Internal Server Error"), Transient),
        (reply("503 Service Unavailable", {"Retry-After": "30"}), Throttled),
        (reply("429 Too Many Requests", {"Retry-After": "5"}), Throttled),
    ],
)
async def test_server_failures_are_classified(
    tiny: Callable[..., Tiny], answer: bytes, kind: type[Exception]
) -> None:
    server = await tiny(lambda h: answer)
    settings = Settings(allow_private_targets=True)
    provider = CalDavProvider(settings)
    try:
        with pytest.raises(kind) as caught:
            await provider.pull(credentials(server.url).to_secret(), server.url, None, WINDOW)
    finally:
        await provider.aclose()
    assert "s3cret" not in str(caught.value)
    if kind is Throttled:
        assert isinstance(caught.value, Throttled) and caught.value.retry_after is not None


async def test_timeout_is_transient(tiny: Callable[..., Tiny]) -> None:
    server = await tiny(lambda h: reply("207 Multi-Status"), delay=2.0)
    settings = Settings(allow_private_targets=True, caldav_timeout_seconds=0.3)
    provider = CalDavProvider(settings)
    try:
        with pytest.raises(Transient, match="timed out"):
            await provider.pull(credentials(server.url).to_secret(), server.url, None, WINDOW)
    finally:
        await provider.aclose()
