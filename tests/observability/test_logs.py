"""Structured logs: one trace id follows a change from the Google webhook to the
booking to its write-back into the member's Microsoft calendar; the request id header;
and no secret in any line, with the redaction safety net proven on purpose-made leaks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.support.bookings import tomorrow_at
from tests.support.channel_secrets import all_channel_secrets
from tests.support.environments import SyncEnv

from spacecal.db.models import Connection, ProviderAccount, SubscriptionGeneration
from spacecal.logs import REDACTED, JsonFormatter, Redactor, TextFormatter, bind_trace, configure


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def json_logs() -> Iterator[Captured]:
    """spacecal's own handler, JSON, at INFO for spacecal and DEBUG for nothing else."""
    root = logging.getLogger()
    spacecal = logging.getLogger("spacecal")
    saved = (root.level, spacecal.level)
    stream = io.StringIO()
    handler = configure("json", "INFO", stream=stream)
    try:
        yield Captured(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        spacecal.setLevel(saved[1])


async def test_one_trace_id_from_webhook_to_booking_to_write_back(
    sync_env: SyncEnv, json_logs: Captured
) -> None:
    s = sync_env
    google = await s.connect("google")
    microsoft = await s.connect("microsoft")
    await s.settle()
    async with s.engine.connect() as conn:
        rows = (await conn.execute(select(Connection.provider, Connection.id))).all()
        ids = {provider: connection_id for provider, connection_id in rows}
    json_logs.clear()

    start = tomorrow_at(11)
    google.create("Standup", start, start + timedelta(hours=1))
    await s.settle()
    assert [e.title for e in microsoft.events()] == ["Meeting Room A"]  # written back

    lines = json_logs.lines()
    webhooks = [
        line
        for line in lines
        if line["logger"] == "spacecal.http" and line["msg"].startswith("POST /webhooks/google 200")
    ]
    assert webhooks and all(w["trace_id"] for w in webhooks)
    booked = [line for line in lines if "1 booking(s) changed" in line["msg"]]
    assert len(booked) == 1 and booked[0]["connection_id"] == ids["google"]
    trace = booked[0]["trace_id"]
    assert trace in {w["trace_id"] for w in webhooks}  # the webhook's own id
    written = [
        line
        for line in lines
        if line["msg"].startswith(f"reconcile {ids['microsoft']}: ok") and "wrote 1" in line["msg"]
    ]
    assert [w["trace_id"] for w in written] == [trace]
    followed = [line["msg"] for line in lines if line["trace_id"] == trace]
    assert any(m.startswith(f"reconcile {ids['google']}: ok") for m in followed)
    assert all(line["level"] and line["ts"] for line in lines)


async def test_no_secret_in_any_log_line(sync_env: SyncEnv, json_logs: Captured) -> None:
    s = sync_env
    logging.getLogger().setLevel(logging.DEBUG)  # every library too
    google = await s.connect("google")
    microsoft = await s.connect("microsoft")
    await s.settle()
    start = tomorrow_at(13)
    s.env.google.store.access_tokens.clear()
    s.env.microsoft.identity.expire_access_tokens("alice@outlook.test")
    google.create("A", start, start + timedelta(hours=1))
    microsoft.create("B", start + timedelta(hours=2), start + timedelta(hours=3))
    await s.settle()

    secrets: set[str] = set(s.env.google.store.access_tokens) | set(
        s.env.google.store.refresh_tokens
    )
    secrets |= set(s.env.microsoft.identity._access) | set(s.env.microsoft.identity._refresh)
    async with s.engine.connect() as conn:
        secrets |= set(await conn.scalars(select(SubscriptionGeneration.secret)))
        secrets |= set(all_channel_secrets(s.env).values())  # the clear ones too
        for enc in await conn.scalars(select(ProviderAccount.refresh_token_enc)):
            secrets.add(s.rt.db.cipher.decrypt(enc))
    secrets = {x for x in secrets if len(x) >= 16}
    assert len(secrets) >= 6
    output = json_logs.stream.getvalue()
    assert output.count("\n") > 20  # the scenario did log
    leaked = [x for x in secrets if x in output]
    assert not leaked


def _format(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    Redactor().filter(record)
    return formatter.format(record)


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_redaction_catches_token_looking_values(formatter: logging.Formatter) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
    fernet = "gAAAAABnZXJtYW55LWlzLWEtY291bnRyeS1pbi1ldXJvcGU="
    opaque = "ya29a0AfB_byC7qPz3kLmN8rT2vW5xY9zA1bC4dE6fG0hJ"
    leaks = {
        "bearer": "Authorization: Bearer sk-live-1234567890abcdef",
        "pair": "refresh_token=1//0gLeakyRefreshValue&client_id=x",
        "json": '{"access_token": "plain-access-value-123"}',
        "state": "clientState=abcdEFGH1234",
    }
    values = [
        "sk-live-1234567890abcdef",
        "1//0gLeakyRefreshValue",
        "plain-access-value-123",
        "abcdEFGH1234",
        jwt,
        fernet,
        opaque,
    ]
    with bind_trace("trace-1"):
        record = logging.LogRecord(
            "spacecal.test",
            logging.WARNING,
            __file__,
            1,
            "leaks %s %s %s %s id_token %s cipher %s raw %s",
            (*leaks.values(), jwt, fernet, opaque),
            None,
        )
        record.detail = f"extra field with {opaque}"
        try:
            raise RuntimeError(f"provider said access_token={values[2]}")
        except RuntimeError:
            import sys

            record.exc_info = sys.exc_info()
        out = _format(formatter, record)
    assert REDACTED in out and "trace-1" in out
    assert not [v for v in values if v in out], out
    assert "client_id=x" in out  # the harmless part stays readable


async def test_requests_carry_a_request_id(sync_env: SyncEnv, json_logs: Captured) -> None:
    given = await sync_env.env.api.get("/healthz", headers={"X-Request-ID": "lb-1234.abc"})
    assert given.headers["x-request-id"] == "lb-1234.abc"
    made = await sync_env.env.api.get("/healthz", headers={"X-Request-ID": "bad id; drop"})
    assert (
        made.headers["x-request-id"] != "bad id; drop" and len(made.headers["x-request-id"]) == 16
    )
    lines = [line for line in json_logs.lines() if line["logger"] == "spacecal.http"]
    assert [(line["msg"].split()[:3], line["trace_id"]) for line in lines[-2:]] == [
        (["GET", "/healthz", "200"], "lb-1234.abc"),
        (["GET", "/healthz", "200"], made.headers["x-request-id"]),
    ]
