"""Where CalDAV requests may go and what a failing server means: the outbound guard,
https only for public hosts, credentials kept to their origin across redirects, and
5xx/timeouts classified. Tiny loopback HTTP servers stand in for hostile ones."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from tests.support.procs import free_port

from spacecal.config import Settings
from spacecal.providers.base import ProviderError, SyncWindow, Throttled, Transient
from spacecal.providers.caldav import (
    CalDavConnectError,
    CalDavCredentials,
    CalDavProvider,
    caldav_http_client,
    connect_account,
)
from spacecal.providers.caldav import client as caldav_client
from spacecal.providers.caldav.client import CredentialScope, DavClient, same_site
from spacecal.providers.caldav.discovery import NOT_CALDAV
from spacecal.providers.guard import NOT_ALLOWED

WINDOW = SyncWindow(datetime(2031, 1, 1, tzinfo=UTC), datetime(2031, 3, 1, tzinfo=UTC))


@dataclass
class Tiny:
    """A loopback HTTP/1.1 server answering every request with `answer(headers)`."""

    answer: Callable[[dict[str, str]], bytes]
    delay: float = 0.0
    drip: float = 0.0  # seconds between bytes of the answer
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
            body = await reader.readexactly(length) if length else b""
            headers[":body"] = body.decode(errors="replace")
            request_line = head.split(b"\r\n", 1)[0].decode().split(" ")
            headers[":method"], headers[":path"] = request_line[0], request_line[1]
            self.seen.append(headers)
            await asyncio.sleep(self.delay)
            answer = self.answer(headers)
            if not self.drip:
                writer.write(answer)
            else:
                for i in range(len(answer)):
                    writer.write(answer[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(self.drip)
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

    async def start(
        answer: Callable[[dict[str, str]], bytes], delay: float = 0.0, drip: float = 0.0
    ) -> Tiny:
        made = Tiny(answer, delay, drip)
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


SYNC_PAGE_1 = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/cal/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status>
 </d:response>
 <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"a1"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:sync-token>t1</d:sync-token>
</d:multistatus>"""

SYNC_PAGE_2 = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/cal/</d:href><d:propstat><d:prop><d:getetag>"c"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/cal/gone.ics</d:href><d:status>HTTP/1.1 404 Not Found</d:status>
 </d:response>
 <d:sync-token>t2</d:sync-token>
</d:multistatus>"""

MULTIGET = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"a1"</d:getetag>
  <c:calendar-data>BEGIN:VCALENDAR&#13;
VERSION:2.0&#13;
PRODID:-//t//EN&#13;
BEGIN:VEVENT&#13;
UID:a&#13;
DTSTAMP:20310101T000000Z&#13;
DTSTART:20310110T090000Z&#13;
DTEND:20310110T100000Z&#13;
SUMMARY:Call&#13;
END:VEVENT&#13;
END:VCALENDAR&#13;
</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"""


def scripted(headers: dict[str, str]) -> bytes:
    """sync-collection in two pages (a 507 on the collection, which is listed among
    its own changes, as iCloud does), then the multiget."""
    body = headers[":body"]
    if "calendar-multiget" in body:
        return reply("207 Multi-Status", {"Content-Type": "application/xml"}, MULTIGET)
    page = SYNC_PAGE_2 if "t1</" in body else SYNC_PAGE_1
    return reply("207 Multi-Status", {"Content-Type": "application/xml"}, page)


async def test_truncated_sync_pages_are_followed(tiny: Callable[..., Tiny]) -> None:
    server = await tiny(scripted)
    settings = Settings(allow_private_targets=True)
    provider = CalDavProvider(settings)
    try:
        pulled = await provider.pull(
            credentials(server.url).to_secret(), server.url + "cal/", "t0", WINDOW
        )
    finally:
        await provider.aclose()
    assert pulled.cursor == "t2" and not pulled.full
    by_key = {e.key: e for e in pulled.events}
    assert set(by_key) == {"/cal/a.ics", "/cal/gone.ics"}
    assert by_key["/cal/gone.ics"].cancelled and by_key["/cal/a.ics"].title == "Call"
    assert pulled.etags == {"/cal/a.ics": '"a1"'}
    assert [h[":method"] for h in server.seen] == ["REPORT", "REPORT", "REPORT"]


LISTING = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/cal/</d:href><d:propstat><d:prop><d:getetag>"c"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/cal/a.ics</d:href><d:propstat><d:prop><d:getetag>"a1"</d:getetag>
  </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>"""


async def test_server_without_sync_collection_gets_full_listings(
    tiny: Callable[..., Tiny],
) -> None:
    def answer(headers: dict[str, str]) -> bytes:
        if "sync-collection" in headers[":body"]:
            return reply("501 Not Implemented")
        if headers[":method"] == "PROPFIND":
            return reply("207 Multi-Status", {}, LISTING)
        return reply("207 Multi-Status", {}, MULTIGET)

    server = await tiny(answer)
    provider = CalDavProvider(Settings(allow_private_targets=True))
    try:
        pulled = await provider.pull(
            credentials(server.url).to_secret(), server.url + "cal/", None, WINDOW
        )
    finally:
        await provider.aclose()
    assert pulled.full and pulled.cursor == ""
    assert [e.key for e in pulled.events] == ["/cal/a.ics"]


async def test_calendar_on_another_host_gets_no_request(tiny: Callable[..., Tiny]) -> None:
    server = await tiny(lambda h: reply("207 Multi-Status"))
    other = await tiny(lambda h: reply("207 Multi-Status"))
    provider = CalDavProvider(Settings(allow_private_targets=True))
    try:
        with pytest.raises(ProviderError, match=r"CalendarId: not on the account's CalDAV server"):
            await provider.pull(credentials(server.url).to_secret(), other.url, None, WINDOW)
    finally:
        await provider.aclose()
    assert other.connections == 0 and server.connections == 0


async def test_a_dripping_server_hits_the_whole_request_deadline(
    tiny: Callable[..., Tiny],
) -> None:
    server = await tiny(lambda h: reply("207 Multi-Status", {}, b"x" * 200), drip=0.02)
    settings = Settings(allow_private_targets=True, caldav_timeout_seconds=0.3)
    provider = CalDavProvider(settings)
    try:
        with pytest.raises(Transient, match="timed out"):
            await provider.pull(credentials(server.url).to_secret(), server.url, None, WINDOW)
    finally:
        await provider.aclose()


async def test_an_oversized_answer_is_refused(
    tiny: Callable[..., Tiny], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caldav_client, "MAX_ANSWER_BYTES", 1000)
    server = await tiny(lambda h: reply("207 Multi-Status", {}, b"<" * 5000))
    provider = CalDavProvider(Settings(allow_private_targets=True))
    try:
        with pytest.raises(ProviderError, match="too large"):
            await provider.pull(credentials(server.url).to_secret(), server.url, None, WINDOW)
    finally:
        await provider.aclose()


async def test_closed_and_open_ports_read_the_same(tiny: Callable[..., Tiny]) -> None:
    """Nothing listening, an HTTP server that is not CalDAV, and one answering garbage
    all give the member the same sentence: connect errors are no port scanner."""
    not_dav = await tiny(lambda h: reply("404 Not Found", {}, b"<html>nope</html>"))
    garbage = await tiny(lambda h: b"SSH-2.0-OpenSSH_9.6\r\n")
    closed = free_port()
    settings = Settings(allow_private_targets=True, caldav_timeout_seconds=2.0)
    sentences = set()
    async with caldav_http_client(settings) as http:
        for url in (not_dav.url, garbage.url, f"http://127.0.0.1:{closed}/"):
            with pytest.raises(CalDavConnectError) as caught:
                await connect_account(http, url, "ann", "pw", settings=settings)
            sentences.add(str(caught.value))
    assert sentences == {NOT_CALDAV}


PRINCIPAL_AT = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:"><d:response><d:href>/dav/</d:href><d:propstat><d:prop>
 <d:current-user-principal><d:href>/dav/principals/ann/</d:href></d:current-user-principal>
</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"""

HOME_AT = b"""<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:response><d:href>/dav/principals/ann/</d:href><d:propstat><d:prop>
 <c:calendar-home-set><d:href>/dav/calendars/ann/</d:href></c:calendar-home-set>
 <c:calendar-user-address-set><d:href>/dav/principals/ann/</d:href>
  <d:href>mailto:Ann@Example.com</d:href></c:calendar-user-address-set>
</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"""


async def test_well_known_discovery_follows_a_same_origin_redirect(
    tiny: Callable[..., Tiny],
) -> None:
    paths: list[str] = []

    def answer(headers: dict[str, str]) -> bytes:
        path = headers[":path"]
        paths.append(path)
        if "authorization" not in headers:
            return reply("401 Unauthorized", {"WWW-Authenticate": 'Basic realm="x"'})
        if path == "/.well-known/caldav":
            return reply("301 Moved Permanently", {"Location": "/dav/"})
        if path == "/dav/":
            return reply("207 Multi-Status", {}, PRINCIPAL_AT)
        if path == "/dav/principals/ann/":
            return reply("207 Multi-Status", {}, HOME_AT)
        return reply("404 Not Found")

    server = await tiny(answer)
    settings = Settings(allow_private_targets=True)
    async with caldav_http_client(settings) as http:
        found, identity = await connect_account(
            http, server.url.rstrip("/"), "ann", "pw", settings=settings
        )
    assert paths == ["/", "/.well-known/caldav", "/dav/", "/dav/principals/ann/"]
    assert found.principal_url == server.url + "dav/principals/ann/"
    assert found.home_url == server.url + "dav/calendars/ann/"
    assert identity.email == "ann@example.com"
    assert identity.subject == found.principal_url
