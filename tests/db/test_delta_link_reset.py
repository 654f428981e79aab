"""Migration 0019: every stored Graph delta link is forgotten (review finding 2).

A row exploited before issue 17's fix may hold a delta link for the member's main
calendar; nothing tied the link to CalendarId, so it was followed after the CalendarId
was corrected. Google sync tokens are left alone (a Google token sees only the
calendars spacecal made)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from spacecal.db.migrate import upgrade
from spacecal.db.url import to_libpq

MAIN = "http://graph.test/v1.0/me/calendarView/delta?$deltatoken=old"


def test_the_upgrade_forgets_graph_delta_links(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url, "0018")
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
        for provider, link, token in (("microsoft", MAIN, None), ("google", None, "tok")):
            conn.execute(
                "INSERT INTO connections (provider, resource_id, name, calendar_id,"
                " push_supported, health, consecutive_failures, unique_id, created_on,"
                " updated_on, delta_link, event_sync_token, sync_window_start,"
                " sync_window_end) VALUES (%s, 1, 'Room', 'c', true, 'healthy', 0,"
                " gen_random_uuid(), now(), now(), %s, %s, now(), now())",
                (provider, link, token),
            )
    upgrade(url)
    with psycopg.connect(to_libpq(url)) as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT provider, delta_link, event_sync_token, sync_window_start IS NULL"
                " FROM connections"
            ).fetchall()
        }
    assert rows == {"microsoft": (None, None, True), "google": (None, "tok", False)}
