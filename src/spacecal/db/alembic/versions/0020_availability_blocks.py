"""Availability blocks (issue 19): business settings, block links, the booking outbox.

- `businesses.availability_days_ahead` (0 = off) and `availability_shows_names`.
- `event_links.kind`: a member's booking event, or a block (another booking of the
  resource shown busy); `generation` keys a block written again after the member
  deleted it; `marker` the opaque value written into spacecal's event property;
  `block_title` what the block was written with (a title setting change rewrites
  it); `put_backs` / `put_backs_since` count put-backs per rolling hour.
- `booking_changes`: one row per booking change, written in the booking's
  transaction; the dispatcher expands it into marks on the resource's calendars.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE businesses"
        " ADD COLUMN availability_days_ahead integer NOT NULL DEFAULT 14,"
        " ADD COLUMN availability_shows_names boolean NOT NULL DEFAULT false"
    )
    op.execute(
        "ALTER TABLE event_links"
        " ADD COLUMN kind varchar(16) NOT NULL DEFAULT 'booking',"
        " ADD COLUMN generation integer NOT NULL DEFAULT 0,"
        " ADD COLUMN marker varchar(64),"
        " ADD COLUMN block_title text,"
        " ADD COLUMN put_backs integer NOT NULL DEFAULT 0,"
        " ADD COLUMN put_backs_since timestamptz,"
        " ADD CONSTRAINT event_links_kind_known CHECK (kind IN ('booking', 'block'))"
    )
    op.execute(
        "CREATE TABLE booking_changes ("
        " id bigserial PRIMARY KEY,"
        " booking_id bigint NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,"
        " created_at timestamptz NOT NULL)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE booking_changes")
    op.execute(
        "ALTER TABLE event_links DROP CONSTRAINT event_links_kind_known,"
        " DROP COLUMN kind, DROP COLUMN generation, DROP COLUMN marker,"
        " DROP COLUMN block_title, DROP COLUMN put_backs, DROP COLUMN put_backs_since"
    )
    op.execute(
        "ALTER TABLE businesses DROP COLUMN availability_days_ahead,"
        " DROP COLUMN availability_shows_names"
    )
