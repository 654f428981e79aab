"""The outbound guard against DNS tricks (issue 17 item 3): a name is resolved once,
refused when any of its addresses is internal, and the connection goes to the
address that was checked, never to a second answer of the resolver (rebinding).
The resolver is the event loop's; these tests give it answers of their choosing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpcore2
import pytest
from httpcore2._backends.auto import AutoBackend

from spacecal.providers.guard import GuardedBackend, TargetRefused


class Recording(AutoBackend):
    """Notes each address it is asked to connect to, and connects to none (the
    addresses here are public ones nothing on this machine answers for)."""

    def __init__(self) -> None:
        self.connected: list[str] = []

    async def connect_tcp(
        self, host: str, port: int, **kwargs: Any
    ) -> httpcore2.AsyncNetworkStream:
        self.connected.append(host)
        raise httpcore2.ConnectError("not connecting in a test")


@pytest.fixture
async def answers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[list[str]]]:
    """Each lookup of `rebind.test` pops the next list of addresses."""
    queue: list[list[str]] = []
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return await real(host, port, *args, **kwargs)
        ips = queue.pop(0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ips]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    yield queue


async def test_a_name_with_any_internal_address_is_refused(answers: list[list[str]]) -> None:
    inner = Recording()
    guard = GuardedBackend(allow_private=False, inner=inner)
    for ips in (["127.0.0.1"], ["93.184.216.34", "10.0.0.5"], ["169.254.169.254"]):
        answers.append(ips)
        with pytest.raises(TargetRefused, match=r"rebind\.test: address not allowed"):
            await guard.connect_tcp("rebind.test", 80, timeout=2)
    assert inner.connected == []  # refused before any connection


async def test_the_connection_goes_to_the_address_checked(answers: list[list[str]]) -> None:
    """First answer public (checked), the next loopback (what a rebinding server says
    to a second lookup): the guard never looks up again, so it connects only to the
    public address it checked."""
    answers.extend([["93.184.216.34"], ["127.0.0.1"]])
    inner = Recording()
    guard = GuardedBackend(allow_private=False, inner=inner)
    with pytest.raises(httpcore2.ConnectError):
        await guard.connect_tcp("rebind.test", 80, timeout=2)
    assert inner.connected == ["93.184.216.34"]
    assert answers == [["127.0.0.1"]]  # resolved once


async def test_a_name_resolving_to_a_metadata_address_is_refused_with_private_allowed(
    answers: list[list[str]],
) -> None:
    """Cloud metadata services that live outside link-local: AWS's IPv6 endpoint
    (fd00:ec2::254, unique-local) and Alibaba's (100.100.100.200, carrier-grade NAT),
    and Azure's WireServer (168.63.129.16), whatever SPACECAL_ALLOW_PRIVATE_TARGETS says."""
    inner = Recording()
    guard = GuardedBackend(allow_private=True, inner=inner)
    for ips in (["fd00:ec2::254"], ["100.100.100.200"], ["93.184.216.34", "168.63.129.16"]):
        answers.append(ips)
        with pytest.raises(TargetRefused, match=r"rebind\.test: address not allowed"):
            await guard.connect_tcp("rebind.test", 80, timeout=2)
    assert inner.connected == []
