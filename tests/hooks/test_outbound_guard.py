"""The outbound guard (issue 17 item 3), attacked through HTTP: webhook URLs that
point inside the network are refused at write time with a named 400; a webhook that
reaches an internal address anyway (written while private targets were allowed, or a
name that resolves there) delivers nothing and says only that the address was not
allowed; redirects stay on the same host and port and never go from https to http;
LastError reads the same for a closed port and an open one that does not speak HTTP
(no port-scan oracle)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx2
import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hooks.conftest import Receiver, RunWorker, create, outbound_jobs
from hooks.test_delivery import _book, _space
from spacecal.app import create_app
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.outbound.delivery import deliver
from spacecal.outbound.send import post
from spacecal.providers.base import CalendarProvider
from spacecal.providers.guard import NOT_ALLOWED, guarded_client
from spacecal.runner import run_worker
from spacecal.sync.runtime import SyncRuntime

HOOKS = "/api/sys/webhooks"
INTERNAL = (
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.0.0.1:6379/",
    "http://[fd00::1]/hook",
    "http://127.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://redis:6379/",
)


@pytest.fixture
def strict_settings(hook_settings: Settings) -> Settings:
    """The default: private targets refused."""
    return hook_settings.model_copy(update={"allow_private_targets": False})


@pytest.fixture
async def strict_client(
    clean: None, strict_settings: Settings, database: Database
) -> AsyncIterator[httpx2.AsyncClient]:
    app = create_app(strict_settings, database)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://spacecal.test") as c:
        yield c


def _no_provider(name: str) -> CalendarProvider:
    raise AssertionError(f"no provider is needed here (asked for {name})")


async def _strict_work(settings: Settings, database: Database) -> None:
    rt = SyncRuntime(settings=settings, db=database, provider_for=_no_provider)
    for _ in range(5):
        await run_worker(rt, wait=False, periodic=False, concurrency=2)
        async with database.engine.connect() as conn:
            due = await conn.scalar(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'outbound'"
                    " AND status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
                )
            ) or await conn.scalar(text("SELECT count(*) FROM job_outbox"))
        if not due:
            return


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_webhook_urls_are_refused_at_write_time(
    strict_client: httpx2.AsyncClient, admin: dict[str, str], url: str
) -> None:
    body = {"Name": "probe", "Action": "BookingCreate", "URL": url}
    answer = await strict_client.post(HOOKS, json=body, headers=admin)
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["Errors"]
    assert error["PropertyName"] == "URL"
    assert error["Message"].startswith("must point at a public address: "), error
    # A PUT cannot move an existing webhook there either.
    made = await create(
        strict_client, admin, HOOKS, {**body, "URL": "https://hooks.example.com/in"}
    )
    moved = await strict_client.put(HOOKS, json={**body, "Id": made}, headers=admin)
    assert moved.status_code == 400, moved.text


async def test_public_urls_are_accepted_and_the_setting_lets_private_ones_in(
    strict_client: httpx2.AsyncClient,
    client: httpx2.AsyncClient,
    admin: dict[str, str],
) -> None:
    body = {"Name": "public", "Action": "BookingCreate", "URL": "https://hooks.example.com/in"}
    assert (await strict_client.post(HOOKS, json=body, headers=admin)).status_code == 200
    # `client` is an app with SPACECAL_ALLOW_PRIVATE_TARGETS on: loopback and private
    # receivers are accepted, cloud metadata never.
    for url in ("http://localhost/hook", "http://10.0.0.1:6379/", "http://[fd00::1]/hook"):
        ok = await client.post(HOOKS, json={**body, "URL": url}, headers=admin)
        assert ok.status_code == 200, ok.text
    for url in ("http://169.254.169.254/", "http://metadata.google.internal/"):
        refused = await client.post(HOOKS, json={**body, "URL": url}, headers=admin)
        assert refused.status_code == 400, refused.text


# Cloud metadata services outside link-local (docs/security.md, "Outgoing connections").
METADATA = (
    "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6 (Nitro)
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud ECS
    "http://168.63.129.16/machine?comp=goalstate",  # Azure WireServer
    "http://metadata.tencentyun.com/latest/meta-data/",  # Tencent Cloud CVM
)


@pytest.mark.parametrize("url", METADATA)
async def test_metadata_addresses_are_refused_even_with_private_targets_allowed(
    client: httpx2.AsyncClient, admin: dict[str, str], url: str
) -> None:
    """`client` has SPACECAL_ALLOW_PRIVATE_TARGETS on; fd00:ec2::254 is a unique-local
    (private) address and 100.100.100.200 a carrier-grade NAT one, so both passed."""
    body = {"Name": "metadata", "Action": "BookingCreate", "URL": url}
    refused = await client.post(HOOKS, json=body, headers=admin)
    assert refused.status_code == 400, refused.text
    [error] = refused.json()["Errors"]
    assert error["PropertyName"] == "URL"
    assert "cloud metadata" in error["Message"], error


async def test_a_webhook_reaching_an_internal_address_delivers_nothing(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    database: Database,
    strict_settings: Settings,
) -> None:
    # Written while private targets were allowed (or over SQL); the setting is now off.
    by_ip = await create(
        client,
        admin,
        HOOKS,
        {"Name": "ip", "Action": "BookingCreate", "URL": receiver.url("ip")},
    )
    # A name (resolved at connect time) that points at loopback.
    by_name = await create(
        client,
        admin,
        HOOKS,
        {"Name": "name", "Action": "BookingCreate", "URL": receiver.url("name", host="localhost")},
    )
    await _book(client, admin, await _space(client, admin))
    await _strict_work(strict_settings, database)
    assert receiver.calls == []
    for hook_id, host in ((by_ip, "127.0.0.1"), (by_name, "localhost")):
        record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
        assert record["ErrorCount"] >= 1
        assert f"the last: {host}: {NOT_ALLOWED}." in record["LastError"]  # turned off


async def test_redirects_to_another_port_of_the_same_host_are_not_followed(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    database: Database,
    hook_settings: Settings,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        other_port = s.getsockname()[1]
    hook_id = await create(
        client,
        admin,
        HOOKS,
        {
            "Name": "port hop",
            "Action": "BookingCreate",
            "URL": f"{receiver.base}/redirect?to=http://127.0.0.1:{other_port}/hook/x",
        },
    )
    await _book(client, admin, await _space(client, admin))
    [job] = await outbound_jobs(database)
    async with guarded_client(allow_private=True) as http:
        outcome = await deliver(database, hook_settings, http, **job["args"])
    assert outcome.status == "failed"
    record = (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()
    assert (
        record["LastError"] == f"127.0.0.1 redirected to another port ({other_port}); not followed"
    )


async def test_https_never_redirects_to_http() -> None:
    """An https receiver answering 307 to http:// on the same host: not followed (the
    receiver is served in-process; the rule is send.py's, whatever the transport)."""
    seen: list[str] = []

    async def hook(request: Request) -> Response:
        seen.append(str(request.url))
        if request.url.scheme == "https":
            return Response(status_code=307, headers={"Location": "http://receiver.test/in"})
        return Response(status_code=200)

    app = Starlette(routes=[Route("/in", hook, methods=["POST"])])
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        result = await post(
            http, "https://receiver.test/in", b"[]", {}, timeout_seconds=2, max_redirects=3
        )
    assert (result.ok, result.error) == (
        False,
        "receiver.test redirected from https to http; not followed",
    )
    assert seen == ["https://receiver.test/in"]


async def test_a_closed_port_and_an_open_one_read_the_same(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    database: Database,
    hook_settings: Settings,
) -> None:
    """Even with private targets allowed, LastError must not tell an open port (here a
    listener that hangs up without answering HTTP) from a closed one."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    open_port = server.sockets[0].getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    try:
        ids = {}
        for name, port in (("open", open_port), ("closed", closed_port)):
            ids[name] = await create(
                client,
                admin,
                HOOKS,
                {"Name": name, "Action": "BookingCreate", "URL": f"http://127.0.0.1:{port}/"},
            )
        await _book(client, admin, await _space(client, admin))
        async with guarded_client(allow_private=True) as http:
            for job in await outbound_jobs(database):
                await deliver(database, hook_settings, http, **job["args"])
    finally:
        server.close()
        await server.wait_closed()
    errors = {
        name: (await client.get(f"{HOOKS}/{hook_id}", headers=admin)).json()["LastError"]
        for name, hook_id in ids.items()
    }
    assert errors["open"] == errors["closed"] == "no answer from 127.0.0.1 within 2 s"


async def test_the_worker_s_deliveries_go_through_the_guard(
    client: httpx2.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    work: RunWorker,
) -> None:
    """The same receiver, with the setting on (hook_settings): delivered."""
    await create(
        client, admin, HOOKS, {"Name": "ok", "Action": "BookingCreate", "URL": receiver.url("ok")}
    )
    await _book(client, admin, await _space(client, admin))
    await work()
    assert len(receiver.to("ok")) == 1
