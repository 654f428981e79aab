"""One connection per (member, resource, provider).

Provisioning's only guard was a lock inside one process, so two API processes could
each make a connection row (and a calendar, and a channel) for the same pair. The
duplicates such a race made are resolved first: per (member, resource, provider) the
row kept is the one with a calendar, then the healthy one, then the oldest. The rows
dropped leave what they owned to the existing clean-up, as a records-API DELETE
does: their live subscription generations become `stopping` (their connection
becomes NULL), which the account's stop-orphans job stops at the provider; a
calendar that is not the kept row's gets one `detached_calendars` row, so the
member reads in it why it stopped syncing. Deleting a row fires 0008's trigger like
any deletion: a `CoworkerCalendarDisconnect` webhook per dropped duplicate.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

CONSTRAINT = "connections_one_per_member_resource_provider"

NOTE = (
    "spacecal no longer syncs this calendar: it was a second copy of this resource's "
    "calendar. Your bookings appear in the other calendar with this name."
)

# Per triple, the row kept and the rows dropped (n > 1).
RANKED = """
    CREATE TEMPORARY TABLE spacecal_duplicate_connections ON COMMIT DROP AS
    SELECT id, first_value(id) OVER w AS kept, row_number() OVER w AS n
    FROM connections
    WHERE coworker_id IS NOT NULL
    WINDOW w AS (
        PARTITION BY coworker_id, resource_id, provider
        ORDER BY (calendar_id IS NULL), (health <> 'healthy'), id
    )
"""
DETACH = """
    INSERT INTO detached_calendars
        (provider_account_id, provider, calendar_id, name, note, created_at, attempts)
    SELECT DISTINCT d.provider_account_id, d.provider, d.calendar_id, d.name, :note, now(), 0
    FROM spacecal_duplicate_connections r
    JOIN connections d ON d.id = r.id
    JOIN connections k ON k.id = r.kept
    WHERE r.n > 1 AND d.calendar_id IS NOT NULL AND d.provider_account_id IS NOT NULL
      AND d.calendar_id IS DISTINCT FROM k.calendar_id
"""
STOP = """
    UPDATE subscription_generations SET status = 'stopping'
    WHERE status = 'live'
      AND connection_id IN (SELECT id FROM spacecal_duplicate_connections WHERE n > 1)
"""
DROP = """
    DELETE FROM connections
    WHERE id IN (SELECT id FROM spacecal_duplicate_connections WHERE n > 1)
"""


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(RANKED))
    bind.execute(sa.text(DETACH), {"note": NOTE})
    bind.execute(sa.text(STOP))
    bind.execute(sa.text(DROP))
    op.create_unique_constraint(
        CONSTRAINT, "connections", ["coworker_id", "resource_id", "provider"]
    )


def downgrade() -> None:
    op.drop_constraint(CONSTRAINT, "connections", type_="unique")
