"""The outbound guard: every connection to an address a user typed goes through here.

Outgoing webhooks today (spacecal.outbound), a CalDAV server URL later. Two checks,
one rule (docs/security.md, "Outgoing connections"):

- at write time, `refusal(url)` names what is wrong with a URL's host as written:
  a loopback, private, link-local, multicast, reserved or unspecified literal in any
  spelling (`[::1]`, `2130706433`, `0x7f000001`, `127.1`, IPv4-mapped IPv6), or a
  name that only means something inside a network (`localhost`, `*.internal`,
  `*.local`, a single label such as `redis`);
- at connect time, `GuardedBackend` resolves the host itself, refuses the connection
  when any address it resolves to is not allowed, and connects to an address it
  checked: a DNS answer that changes between the check and the connect (rebinding)
  cannot reach an internal address. It sits under httpx's connection pool, so the
  first request and every redirect target are checked alike.

`allow_private` (SPACECAL_ALLOW_PRIVATE_TARGETS) lets loopback, private and internal
names through, for receivers on the operator's own network; link-local (where most
cloud metadata services live), the cloud metadata addresses outside link-local,
multicast, reserved and unspecified addresses and IPv4-mapped forms stay refused
whatever the setting.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream
from httpcore2._backends.auto import AutoBackend

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private in effect
# Names that mean something only inside a network (RFC 6761, RFC 8375, ICANN's
# .internal); cloud metadata names are refused even when private targets are allowed.
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
_METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",  # Tencent Cloud CVM (answers on 169.254.0.23)
    }
)
# Cloud metadata and platform services outside link-local, refused whatever the
# setting (169.254.169.254 of AWS, Azure, GCP, Oracle, DigitalOcean, OpenStack is
# link-local, refused already). fd00:ec2::254 and 100.100.100.200 are private
# addresses by their range, so SPACECAL_ALLOW_PRIVATE_TARGETS alone would let them in.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "fd00:ec2::254",  # AWS instance metadata over IPv6 (Nitro; EC2 user guide)
        "100.100.100.200",  # Alibaba Cloud ECS instance metadata
        "168.63.129.16",  # Azure WireServer (VM agent, extension settings); public range
    )
)

NOT_ALLOWED = (
    "address not allowed: spacecal connects only to public addresses "
    "(see SPACECAL_ALLOW_PRIVATE_TARGETS)"
)


class TargetRefused(Exception):
    """A connection the guard refused. Its text names the host only, never an
    address, a port or whether anything listens there."""

    def __init__(self, host: str) -> None:
        super().__init__(f"{host}: {NOT_ALLOWED}")
        self.host = host


def address_refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to `ip` is refused (a short phrase), or None when allowed."""
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = address_refusal(embedded, allow_private=allow_private)
            if inner is not None:
                return inner
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if ip.is_loopback:  # before reserved: ::1 lies in the reserved ::/8
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    private = ip.is_private or ip in _SHARED
    if isinstance(ip, ipaddress.IPv6Address):
        private = private or ip.is_site_local
    if private:
        return None if allow_private else "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one in any spelling the resolver accepts
    (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`), else None."""
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if bare and all(c in "0123456789abcdefxABCDEFX." for c in bare) and bare[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def host_refusal(host: str, *, allow_private: bool) -> str | None:
    """Why `host` as written is refused, or None; names are resolved at connect time."""
    name = host.lower().rstrip(".")
    ip = literal_address(name)
    if ip is not None:
        return address_refusal(ip, allow_private=allow_private)
    if name in _METADATA_NAMES:
        return "a cloud metadata service name"
    if name == "localhost" or name.endswith(".localhost"):
        return None if allow_private else "a loopback name"
    if "." not in name or name.endswith(_INTERNAL_SUFFIXES):
        return None if allow_private else "a name that resolves only inside a network"
    return None


def refusal(url: str, *, allow_private: bool) -> str | None:
    """Why `url`'s host is refused at write time, in words that name it, or None."""
    host = urlsplit(url).hostname or ""
    why = host_refusal(host, allow_private=allow_private)
    return None if why is None else f"{host} is {why}"


class GuardedBackend(AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking every host it connects to,
    then connecting to an address it checked (never resolving twice)."""

    def __init__(self, *, allow_private: bool, inner: AsyncNetworkBackend | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or AutoBackend()

    async def _addresses(
        self,
        host: str,
        port: int,
        timeout: float | None,  # noqa: ASYNC109 (httpcore's)
    ) -> list[IPAddress]:
        ip = literal_address(host)
        if ip is not None:
            return [ip]
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise httpcore2.ConnectError(f"{host}: could not connect") from exc
        found: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if address not in found:
                found.append(address)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        # One refused address refuses the name: a public answer beside a private one is
        # what a rebinding attacker serves.
        if not addresses or any(
            address_refusal(a, allow_private=self.allow_private) for a in addresses
        ):
            raise TargetRefused(host)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise TargetRefused("a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's default


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx's transport over a `GuardedBackend`; no proxy from the environment (a
    proxy would be the only address checked)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        verify: bool | ssl.SSLContext = True,
        limits: httpx2.Limits = _LIMITS,
    ) -> None:
        # Not super().__init__: it would build a pool (and a TLS context) to throw away.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private),
        )


def guarded_client(*, allow_private: bool, timeout: float | None = None) -> httpx2.AsyncClient:
    """An HTTP client for user-typed addresses: guarded, following no redirect itself."""
    return httpx2.AsyncClient(
        transport=GuardedTransport(allow_private=allow_private),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    )
