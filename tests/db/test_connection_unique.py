"""Migration 0011: duplicate connections that the old in-process lock let through are
resolved on upgrade, and the database then refuses a second row for one (member,
resource, provider)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from spacecal.db.migrate import upgrade
from spacecal.db.url import to_libpq

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
FILLERS = {
    "boolean": False,
    "integer": 0,
    "bigint": 0,
    "timestamp with time zone": NOW,
    "character varying": "x",
    "text": "x",
    "ARRAY": [],
}


def _insert(conn: psycopg.Connection[Any], table: str, **values: object) -> int:
    """A row with `values`, and a plain value for every other NOT NULL column that has
    no default (the models' defaults live in Python, not in the schema)."""
    required = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL",
        (table,),
    ).fetchall()
    row: dict[str, object] = {}
    for name, kind in required:
        if name == "unique_id":
            row[name] = psycopg.sql.SQL("gen_random_uuid()")
        elif name not in values:
            row[name] = FILLERS[kind]
    row.update(values)
    columns = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(c) for c in row)
    placeholders = psycopg.sql.SQL(", ").join(
        v if isinstance(v, psycopg.sql.Composable) else psycopg.sql.Placeholder()
        for v in row.values()
    )
    query = psycopg.sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        psycopg.sql.Identifier(table), columns, placeholders
    )
    params = [v for v in row.values() if not isinstance(v, psycopg.sql.Composable)]
    found = conn.execute(query, params).fetchone()
    assert found is not None
    return int(found[0])


def test_duplicates_are_resolved_and_then_refused(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url, "0010")
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        business = _insert(conn, "businesses", name="Riverside", time_zone="Europe/London")
        resource = _insert(
            conn,
            "resources",
            business_id=business,
            name="Room A",
            slot_step_minutes=15,
            resource_type="room",
        )
        member = _insert(conn, "coworkers", business_id=business, email="a@example.com")
        account = _insert(
            conn, "provider_accounts", coworker_id=member, provider="google", status="active"
        )

        def connection(calendar: str | None, health: str) -> int:
            return _insert(
                conn,
                "connections",
                provider="google",
                resource_id=resource,
                coworker_id=member,
                provider_account_id=account,
                name="Room A · Riverside",
                calendar_id=calendar,
                health=health,
            )

        no_calendar = connection(None, "error")
        second_copy = connection("cal-2", "error")
        kept = connection("cal-1", "healthy")
        channel = _insert(
            conn,
            "subscription_generations",
            connection_id=second_copy,
            provider_account_id=account,
            provider="google",
            subscription_id="channel-2",
            secret="s",
            expires_at=NOW,
            status="live",
        )

    upgrade(url)

    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        left = conn.execute("SELECT id, calendar_id FROM connections").fetchall()
        assert left == [(kept, "cal-1")]
        assert no_calendar != kept
        detached = conn.execute("SELECT calendar_id, note FROM detached_calendars").fetchall()
        assert [d[0] for d in detached] == ["cal-2"]
        assert "second copy" in detached[0][1]
        # The dropped row's channel is left, unowned and stopping, to the stop-orphans job.
        owner = conn.execute(
            "SELECT connection_id, status FROM subscription_generations WHERE id = %s", (channel,)
        ).fetchone()
        assert owner == (None, "stopping")
        with pytest.raises(psycopg.errors.UniqueViolation):
            connection_again = _insert(
                conn,
                "connections",
                provider="google",
                resource_id=resource,
                coworker_id=member,
                name="Room A · Riverside",
            )
            del connection_again
