"""Booking by invitation (issue 21, deciding and replying).

- `invitations`: what spacecal decided for each invitation (UID) and each of its
  instances (`instance_key`: '' for the event or series itself, else the instance's
  original start in UTC). The row of '' keeps the UID's original ORGANIZER and the
  SEQUENCE/DTSTAMP last applied, so a stale or forged change is ignored; instance
  rows hold the booking and the decision (ACCEPTED, DECLINED + reason, CANCELLED).
  A series keeps its last applied VEVENTs (`calendar`) and how far they were decided
  (`decided_until`), so instances beyond the horizon are decided as it reaches them.
- `mail_outbox`: every outgoing message (replies, confirmations, notices), queued in
  the deciding transaction and sent by the sender job with retries and backoff.
- `bookings.source` accepts 'invitation'.
- `booking_invites`: bookings made elsewhere for a member who books this resource by
  invitation (and has no calendar connected for it), sent to them as a REQUEST
  organised by the resource's address (SEQUENCE = the booking's version; a CANCEL
  when cancelled); the member's own REPLY is recorded and changes nothing.
- `connections.reconnect_mailed_at`: the one email telling a member a connection
  needs reconnecting was queued (cleared when it is healthy again).

Revision ID: 0024
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_source_known")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_source_known"
        " CHECK (source IN ('api', 'portal', 'google', 'microsoft', 'caldav', 'invitation'))"
    )
    op.execute("ALTER TABLE connections ADD COLUMN reconnect_mailed_at timestamptz")
    op.execute(
        "CREATE TABLE invitations ("
        " id bigserial PRIMARY KEY,"
        " coworker_id bigint NOT NULL REFERENCES coworkers (id) ON DELETE CASCADE,"
        " resource_id bigint NOT NULL REFERENCES resources (id) ON DELETE CASCADE,"
        " uid varchar(1024) NOT NULL,"
        " instance_key varchar(64) NOT NULL DEFAULT '',"
        " organizer varchar(320) NOT NULL,"
        " sequence integer NOT NULL DEFAULT 0,"
        " dtstamp timestamptz,"
        " address_id bigint,"
        " address varchar(320) NOT NULL DEFAULT '',"
        " booking_id bigint REFERENCES bookings (id) ON DELETE SET NULL,"
        " start_time timestamptz,"
        " end_time timestamptz,"
        " status varchar(16) NOT NULL DEFAULT 'pending',"
        " reason text NOT NULL DEFAULT '',"
        " message_id bigint,"
        " calendar text NOT NULL DEFAULT '',"
        " decided_until timestamptz,"
        " created_at timestamptz NOT NULL,"
        " updated_at timestamptz NOT NULL,"
        " CONSTRAINT invitations_status_known CHECK"
        " (status IN ('pending', 'accepted', 'declined', 'cancelled')),"
        " CONSTRAINT invitations_instance UNIQUE (coworker_id, resource_id, uid, instance_key))"
    )
    op.execute("CREATE INDEX invitations_booking ON invitations (booking_id)")
    op.execute(
        "CREATE INDEX invitations_horizon ON invitations (decided_until)"
        " WHERE decided_until IS NOT NULL"
    )
    op.execute("CREATE INDEX invitations_recent ON invitations (coworker_id, updated_at)")
    op.execute(
        "CREATE TABLE booking_invites ("
        " booking_id bigint PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,"
        " uid varchar(255) NOT NULL UNIQUE,"
        " version integer NOT NULL,"
        " cancelled boolean NOT NULL DEFAULT false,"
        " partstat varchar(16),"
        " replied_at timestamptz,"
        " sent_at timestamptz NOT NULL)"
    )
    op.execute(
        "CREATE TABLE mail_outbox ("
        " id bigserial PRIMARY KEY,"
        " to_address varchar(320) NOT NULL,"
        " from_address varchar(320) NOT NULL,"
        " subject varchar(998) NOT NULL,"
        " body_text text NOT NULL,"
        " calendar bytea,"
        " method varchar(16),"
        " created_at timestamptz NOT NULL,"
        " next_attempt_at timestamptz NOT NULL,"
        " attempts integer NOT NULL DEFAULT 0,"
        " last_error text,"
        " sent_at timestamptz,"
        " failed_at timestamptz)"
    )
    op.execute(
        "CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at)"
        " WHERE sent_at IS NULL AND failed_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP TABLE mail_outbox")
    op.execute("DROP TABLE booking_invites")
    op.execute("DROP TABLE invitations")
    op.execute("ALTER TABLE connections DROP COLUMN reconnect_mailed_at")
    op.execute("DELETE FROM bookings WHERE source = 'invitation'")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_source_known")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_source_known"
        " CHECK (source IN ('api', 'portal', 'google', 'microsoft', 'caldav'))"
    )
