"""Migration 0013: a renewal's error leaves the sync's columns for
its own, and the health derived from both (db/conditions.py) reads as before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from alembic import command
from sqlalchemy import create_engine, pool, select

from spacecal.db.conditions import error_expr, health_expr
from spacecal.db.migrate import alembic_config, upgrade
from spacecal.db.models import Connection
from spacecal.db.url import to_libpq, to_sqlalchemy

RENEWAL = "Keeping the calendar's push alive failed: Transient: 502"
EARLIER = datetime(2026, 1, 1, tzinfo=UTC)


def _connection(
    conn: psycopg.Connection[tuple[object, ...]],
    resource: int,
    health: str,
    error: str | None,
    failures: int,
    at: datetime | None = EARLIER,
) -> int:
    row = conn.execute(
        "INSERT INTO connections (provider, resource_id, name, push_supported, health, last_error,"
        " last_error_at, consecutive_failures, unique_id, created_on, updated_on)"
        " VALUES ('google', %s, 'Room', true, %s, %s, %s, %s, gen_random_uuid(), now(), now())"
        " RETURNING id",
        (resource, health, error, at if error else None, failures),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _resource(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    conn.execute(
        "INSERT INTO businesses (id, name, time_zone, max_booking_days_ahead, unique_id,"
        " created_on, updated_on) VALUES (1, 'B', 'UTC', 90, gen_random_uuid(), now(), now())"
    )
    conn.execute(
        "INSERT INTO resources (id, business_id, name, resource_type, visible, bookable,"
        " all_day_bookable, slot_step_minutes, unique_id, created_on, updated_on)"
        " VALUES (1, 1, 'R', 'room', true, true, false, 15, gen_random_uuid(), now(), now())"
    )
    return 1


def _shown(url: str) -> dict[int, tuple[str, str | None]]:
    engine = create_engine(to_sqlalchemy(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(select(Connection.id, health_expr(), error_expr())).all()
    engine.dispose()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_a_renewal_error_moves_to_its_own_columns_and_shows_the_same(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url, "0012")
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        rid = _resource(conn)
        only_renewal = _connection(conn, rid, "failing", RENEWAL, 0)
        both = _connection(conn, rid, "failing", RENEWAL, 2)  # sync failing too
        sync_only = _connection(conn, rid, "failing", "Transient: 500", 1)
        healthy = _connection(conn, rid, "healthy", None, 0)
        reconnect = _connection(conn, rid, "needs_reconnect", "consent withdrawn", 0)
    upgrade(url)
    with psycopg.connect(to_libpq(url)) as conn:
        stored = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, health, last_error, renewal_error FROM connections"
            ).fetchall()
        }
    assert stored[only_renewal] == ("healthy", None, RENEWAL)  # the sync was fine
    assert stored[both] == ("failing", None, RENEWAL)
    assert stored[sync_only] == ("failing", "Transient: 500", None)
    shown = _shown(url)
    assert shown == {
        only_renewal: ("failing", RENEWAL),
        both: ("failing", RENEWAL),
        sync_only: ("failing", "Transient: 500"),
        healthy: ("healthy", None),
        reconnect: ("needs_reconnect", "consent withdrawn"),
    }
    command.downgrade(alembic_config(url), "0012")
    with psycopg.connect(to_libpq(url)) as conn:
        back = dict(conn.execute("SELECT id, last_error FROM connections").fetchall())
    assert back[only_renewal] == RENEWAL and back[sync_only] == "Transient: 500"


def test_the_later_failure_of_sync_and_renewal_is_the_one_shown(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url)
    later = EARLIER + timedelta(hours=1)
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        rid = _resource(conn)
        sync_later = _connection(conn, rid, "failing", "sync broke", 1, later)
        renewal_later = _connection(conn, rid, "failing", "sync broke", 1, EARLIER)
        throttled = _connection(conn, rid, "throttled", "throttled", 1, later)
        conn.execute(
            "UPDATE connections SET renewal_error = 'renewal broke', renewal_error_at = %s",
            (EARLIER + timedelta(minutes=30),),
        )
    assert _shown(url) == {
        sync_later: ("failing", "sync broke"),
        renewal_later: ("failing", "renewal broke"),
        throttled: ("failing", "renewal broke"),  # a failing renewal outranks throttling
    }


def test_a_failing_renewal_is_announced_once_like_a_failing_sync(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    """The outbound trigger follows the derived health: CoworkerCalendarSyncFail when
    a renewal starts failing (as when it wrote `health`), nothing more while it goes on
    failing or the sync fails too, and nothing when it recovers."""
    url = fresh_database_on(server_url)
    upgrade(url)
    with psycopg.connect(to_libpq(url), autocommit=True) as conn:
        rid = _resource(conn)
        cid = _connection(conn, rid, "healthy", None, 0)
        conn.execute(
            "INSERT INTO webhooks (name, action, url, active, error_count, unique_id,"
            " created_on, updated_on) VALUES ('w', 'CoworkerCalendarSyncFail',"
            " 'https://example.com/h', true, 0, gen_random_uuid(), now(), now())"
        )

        def announced() -> int:
            # Deliveries a database trigger records are job outbox rows (migration 0012).
            row = conn.execute(
                "SELECT count(*) FROM job_outbox WHERE queue_name = 'outbound'"
            ).fetchone()
            assert row is not None
            return int(row[0])

        def update(values: str) -> None:
            conn.execute(f"UPDATE connections SET {values} WHERE id = %s", (cid,))

        update("renewal_error = 'renewal broke', renewal_error_at = now()")
        assert announced() == 1
        update("renewal_error = 'renewal broke again', renewal_error_at = now()")
        update("health = 'failing', last_error = 'sync broke', last_error_at = now()")
        assert announced() == 1
        update("health = 'healthy', last_error = NULL, last_error_at = NULL")
        update("renewal_error = NULL, renewal_error_at = NULL")
        assert announced() == 1
