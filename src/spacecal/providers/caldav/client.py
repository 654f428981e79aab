"""The HTTP verbs of CalDAV over one guarded httpx2 client.

Every request goes through the outbound guard (providers/guard.py): the client is a
`GuardedTransport` that resolves and checks each host at connect time. On top:

- plain http only to a host that is loopback/private/internal AND allowed by
  SPACECAL_ALLOW_PRIVATE_TARGETS (checked before any connection);
- Basic credentials only to the configured origin and to https origins of the same
  registrable domain that discovery named (`CredentialScope`); redirects are followed
  here, hop by hop, and a hop to any other origin goes without them;
- a failed answer becomes one of base.py's classified errors, whose text names the
  method and the path, never a header, a password or the answer's body.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx2

from spacecal import metrics
from spacecal.config import Settings
from spacecal.providers.base import ConsentRevoked, NotFound, ProviderError, Throttled, Transient
from spacecal.providers.caldav.credentials import CalDavCredentials, InsecureTarget
from spacecal.providers.guard import GuardedTransport, TargetRefused, address_refusal, host_refusal
from spacecal.providers.http import parse_retry_after

#: Largest answer read (decoded); a multiget batch of 100 events is far below it.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Second-level labels under which a two-label name is a public suffix (co.uk, com.au):
# never a registrable domain to share credentials across. A short list on purpose:
# without it only the configured origin itself gets credentials (docs/caldav.md).
_PUBLIC_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gv", "ltd", "plc"}
)


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def same_site(configured: str, target: str) -> bool:
    """Whether `target` (https) lies in the registrable domain of `configured`'s host:
    caldav.icloud.com → p42-caldav.icloud.com. Approximated without the public suffix
    list: the parent of the configured host (its name less the first label) must have
    two or more labels and not be a public suffix such as co.uk."""
    labels = configured.split(".")
    parent = labels[1:]
    if len(parent) < 2 or literal(configured):
        return False
    if len(parent) == 2 and parent[0] in _PUBLIC_SECOND_LEVEL:
        return False
    return target.endswith("." + ".".join(parent))


def literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass
class CredentialScope:
    """Where the Basic credentials may go: the configured origin, plus https origins
    of the same site that discovery named (added with `admit`)."""

    configured: str
    origins: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.origins.add(origin(self.configured))

    def admit(self, url: str) -> bool:
        """Add `url`'s origin when the rule allows it; whether it is in scope now."""
        target = origin(url)
        if target in self.origins:
            return True
        home = origin(self.configured)
        if target[0] == "https" and same_site(home[1], target[1]):
            self.origins.add(target)
            return True
        return False

    def allows(self, url: str) -> bool:
        return origin(url) in self.origins


def caldav_http_client(settings: Settings) -> httpx2.AsyncClient:
    """The guarded client CalDAV requests go through: no redirects followed by httpx
    (DavClient follows them), no proxy from the environment, the extra CA file."""
    context = httpx2.create_ssl_context(verify=True, trust_env=False)
    if settings.caldav_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.caldav_ca_file))
    return httpx2.AsyncClient(
        transport=GuardedTransport(allow_private=settings.allow_private_targets, verify=context),
        follow_redirects=False,
        trust_env=False,
        timeout=settings.caldav_timeout_seconds,
    )


def tls_failure(exc: BaseException) -> bool:
    """Whether a transport error was a TLS (certificate, handshake) failure."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen) or "SSL" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class TlsProblem(Transient):
    """The server's certificate was not trusted or the TLS handshake failed."""


class AddressRefused(ProviderError):
    """The outbound guard refused the address; the text is the guard's sentence."""


async def _all_private(host: str) -> bool:
    """Whether every address `host` resolves to is loopback/private (never public)."""
    if host_refusal(host, allow_private=False) is not None:
        return True
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos}
    return bool(addresses) and all(
        address_refusal(a, allow_private=False) is not None for a in addresses
    )


async def check_scheme(url: str, *, allow_private: bool) -> None:
    """Refuse a URL spacecal must not use: not http(s), or plain http to anything but
    an allowed private target. Raises before any connection."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise InsecureTarget("a CalDAV address must start with https://", status=0)
    why = host_refusal(host, allow_private=allow_private)
    if why is not None:
        raise AddressRefused(str(TargetRefused(host)), status=0)
    if scheme == "http" and not (allow_private and await _all_private(host)):
        raise InsecureTarget(f"{host}: CalDAV needs https:// for this address", status=0)


class DavClient:
    """One account's requests: credentials, the scope they may go to, redirects."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        credentials: CalDavCredentials,
        *,
        allow_private: bool,
        max_redirects: int,
        scope: CredentialScope | None = None,
        deadline: float | None = None,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._allow_private = allow_private
        self._max_redirects = max_redirects
        # httpx's timeout bounds each phase; this bounds one request whole (a server
        # dripping a byte a second would otherwise hold a worker for ever).
        self._deadline = deadline
        if scope is None:
            scope = CredentialScope(credentials.server_url)
            scope.admit(credentials.principal_url)
            scope.admit(credentials.home_url)
        self.scope = scope
        raw = f"{credentials.username}:{credentials.password}".encode()
        self._auth = "Basic " + base64.b64encode(raw).decode("ascii")

    def __repr__(self) -> str:  # never the credentials
        return f"DavClient(server={self._credentials.server_url!r})"

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        depth: str | None = None,
    ) -> tuple[httpx2.Response, str]:
        """The final answer and the URL that gave it (after redirects)."""
        base = dict(headers or {})
        if depth is not None:
            base["Depth"] = depth
        if body is not None and "Content-Type" not in base:
            base["Content-Type"] = "application/xml; charset=utf-8"
        for _ in range(self._max_redirects + 1):
            await check_scheme(url, allow_private=self._allow_private)
            sent = dict(base)
            if self.scope.allows(url):
                sent["Authorization"] = self._auth
            response = await self._send(method, url, body, sent)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                return response, url
            url = urljoin(url, location)
            if response.status_code == 303:
                method, body = "GET", None
        raise ProviderError(f"{method} {urlsplit(url).path}: too many redirects", status=0)

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> httpx2.Response:
        path = urlsplit(url).path
        try:
            async with asyncio.timeout(self._deadline):
                return await self._read(method, url, body, headers)
        except TimeoutError:
            raise Transient(f"{method} {path}: timed out", status=0) from None
        except TargetRefused as exc:
            raise AddressRefused(str(exc), status=0) from None
        except httpx2.TimeoutException:
            raise Transient(f"{method} {path}: timed out", status=0) from None
        except httpx2.TransportError as exc:
            if tls_failure(exc):
                raise TlsProblem(f"{method} {path}: TLS failure", status=0) from None
            raise Transient(f"{method} {path}: {type(exc).__name__}", status=0) from None
        except httpx2.RequestError as exc:  # undecodable body, too many redirects...
            raise Transient(f"{method} {path}: {type(exc).__name__}", status=0) from None

    async def _read(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> httpx2.Response:
        """The answer, read whole but never past MAX_ANSWER_BYTES (decoded): a hostile
        server cannot fill spacecal's memory."""
        async with self._http.stream(method, url, content=body, headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    path = urlsplit(url).path
                    raise ProviderError(f"{method} {path}: the answer is too large", status=0)
                chunks.append(chunk)
        # The content is decoded already: the new answer must not decode it again.
        kept = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx2.Response(
            response.status_code,
            headers=kept,
            content=b"".join(chunks),
            request=response.request,
        )

    def fail(self, method: str, url: str, response: httpx2.Response) -> ProviderError:
        """The classified error for a failed answer (the caller raises it)."""
        status = response.status_code
        metrics.provider_error("caldav", status)
        text = f"{method} {urlsplit(url).path}: HTTP {status}"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 401:
            return ConsentRevoked(
                f"{text}: the server refused the username or password", status=status
            )
        if status == 429 or (status == 503 and retry_after is not None):
            return Throttled(text, status=status, retry_after=retry_after)
        if status in (404, 410):
            return NotFound(text, status=status)
        if status >= 500:
            return Transient(text, status=status)
        return ProviderError(text, status=status)
