"""Forget every stored Graph delta link.

A delta link names the calendar it reads, and before this release nothing cleared it
when a connection's CalendarId or account changed: a row that once pointed at the
member's main calendar (the `..` CalendarId of issue 17) may still hold a link to
`/me/calendarView/delta`, and following it read that calendar again even after the
CalendarId was corrected. Now a record write that changes either column clears the
cursor (records/connections.py) and pull refuses a link for another calendar
(providers/microsoft/delta.py); this clears the links stored before. Each
Microsoft connection does one full pull on its next reconcile.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE connections SET delta_link = NULL, sync_window_start = NULL, "
        "sync_window_end = NULL WHERE provider = 'microsoft' AND delta_link IS NOT NULL"
    )


def downgrade() -> None:
    # Nothing to restore: a missing delta link only means a full pull.
    pass
