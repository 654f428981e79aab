"""Migration 0014: no existing connection is verified by the upgrade; Graph rows with
a calendar are flagged for the one-off mark job (sync/reconcile/verify.py)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from spacecal.db.migrate import upgrade
from spacecal.db.url import to_libpq


def _connection(
    conn: psycopg.Connection[tuple[object, ...]], provider: str, calendar: str | None
) -> int:
    row = conn.execute(
        "INSERT INTO connections (provider, resource_id, name, calendar_id, push_supported,"
        " health, consecutive_failures, unique_id, created_on, updated_on)"
        " VALUES (%s, 1, 'Room', %s, true, 'healthy', 0, gen_random_uuid(), now(), now())"
        " RETURNING id",
        (provider, calendar),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_existing_connections_start_unverified(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url, "0013")
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO businesses (id, name, time_zone, max_booking_days_ahead, unique_id,"
            " created_on, updated_on) VALUES (1, 'B', 'UTC', 90, gen_random_uuid(), now(), now())"
        )
        conn.execute(
            "INSERT INTO resources (id, business_id, name, resource_type, visible, bookable,"
            " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
            " VALUES (1, 1, 'R', 'room', true, true, false, 15, gen_random_uuid(), now(), now())"
        )
        graph = _connection(conn, "microsoft", "AAMk1=")
        graph_bare = _connection(conn, "microsoft", None)
        google = _connection(conn, "google", "x@group.calendar.google.com")
    upgrade(url)
    with psycopg.connect(to_libpq(url)) as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, verified_calendar_id, verified_account_id, marker_pending"
                " FROM connections"
            ).fetchall()
        }
    assert rows == {
        graph: (None, None, True),
        graph_bare: (None, None, False),
        google: (None, None, False),
    }
