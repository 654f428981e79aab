"""Connections remember which calendar spacecal verified it made for which account.

A CalendarId written through the records API (an administrator's repair or
migration) is stored, but sync uses it only once spacecal has verified that it made
that calendar for that account (sync/accounts/verify.py): `verified_calendar_id` and
`verified_account_id` must match the row's `calendar_id` and `provider_account_id`.
Nothing is verified by this migration: Google calendars verify on their next
reconcile (the token sees only the calendars the app made); Graph calendars made
before spacecal marked its calendars are flagged `marker_pending`, and the mark job
checks each one (not the default calendar, owned by the account, editable, named as
spacecal names it) and writes the marker before sync uses it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE connections"
        " ADD COLUMN verified_calendar_id varchar(1024),"
        " ADD COLUMN verified_account_id bigint,"
        " ADD COLUMN marker_pending boolean NOT NULL DEFAULT false"
    )
    op.execute(
        "UPDATE connections SET marker_pending = true"
        " WHERE provider = 'microsoft' AND calendar_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(
        "ALTER TABLE connections"
        " DROP COLUMN marker_pending,"
        " DROP COLUMN verified_account_id,"
        " DROP COLUMN verified_calendar_id"
    )
