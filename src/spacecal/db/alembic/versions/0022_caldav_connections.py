"""CalDAV connections (issue 20): a third provider, polled instead of pushed.

- 'caldav' joins the provider checks (`provider_accounts`, `connections`) and
  `bookings.source`; the one-account-per-member key (coworker, provider) then holds
  one CalDAV account per member as it does for Google and Microsoft.
- `provider_accounts.job_lock`: the reconcile jobs' lock for the account when it is
  not the account itself (CalDAV: one of a few buckets per server host, so a server
  sees a bounded number of syncs at once, and an account always maps to the same
  bucket: still one sync per account at a time).
- `provider_accounts.server_url` / `username` and the same on `connections`: the
  CalDAV server and user (the account's, copied to each connection, whose record
  shows them); the password lives only in the account's encrypted secret.
- The poll schedule: `poll_next_at` (due when passed), `poll_interval_seconds`
  (short after a change, doubled while quiet), `last_poll_at`; the index serves
  the sweep's "due now" scan.
- `bookings.caldav_event_id`: the event a CalDAV booking came from (like
  `google_event_id` / `office365_event_id`).

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE provider_accounts DROP CONSTRAINT provider_accounts_provider")
    op.execute(
        "ALTER TABLE provider_accounts ADD CONSTRAINT provider_accounts_provider"
        " CHECK (provider IN ('google', 'microsoft', 'caldav'))"
    )
    op.execute(
        "ALTER TABLE provider_accounts ADD COLUMN job_lock varchar(200),"
        " ADD COLUMN server_url varchar(1024), ADD COLUMN username varchar(320)"
    )
    op.execute("ALTER TABLE connections DROP CONSTRAINT connections_provider")
    op.execute(
        "ALTER TABLE connections ADD CONSTRAINT connections_provider"
        " CHECK (provider IN ('google', 'microsoft', 'caldav'))"
    )
    op.execute(
        "ALTER TABLE connections ADD COLUMN server_url varchar(1024),"
        " ADD COLUMN username varchar(320),"
        " ADD COLUMN poll_next_at timestamptz,"
        " ADD COLUMN poll_interval_seconds integer,"
        " ADD COLUMN last_poll_at timestamptz"
    )
    op.execute(
        "CREATE INDEX connections_poll_next ON connections (poll_next_at)"
        " WHERE poll_next_at IS NOT NULL"
    )
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_source_known")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_source_known"
        " CHECK (source IN ('api', 'portal', 'google', 'microsoft', 'caldav'))"
    )
    op.execute("ALTER TABLE bookings ADD COLUMN caldav_event_id varchar(1024)")


def downgrade() -> None:
    # CalDAV rows cannot live under the old checks: they go (bookings stay, as 'api').
    op.execute("UPDATE bookings SET source = 'api' WHERE source = 'caldav'")
    op.execute("ALTER TABLE bookings DROP COLUMN caldav_event_id")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT bookings_source_known")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_source_known"
        " CHECK (source IN ('api', 'portal', 'google', 'microsoft'))"
    )
    op.execute("DELETE FROM connections WHERE provider = 'caldav'")
    op.execute("DROP INDEX connections_poll_next")
    op.execute(
        "ALTER TABLE connections DROP COLUMN server_url, DROP COLUMN username,"
        " DROP COLUMN poll_next_at, DROP COLUMN poll_interval_seconds,"
        " DROP COLUMN last_poll_at"
    )
    op.execute("ALTER TABLE connections DROP CONSTRAINT connections_provider")
    op.execute(
        "ALTER TABLE connections ADD CONSTRAINT connections_provider"
        " CHECK (provider IN ('google', 'microsoft'))"
    )
    op.execute("DELETE FROM provider_accounts WHERE provider = 'caldav'")
    op.execute(
        "ALTER TABLE provider_accounts DROP COLUMN job_lock, DROP COLUMN server_url,"
        " DROP COLUMN username"
    )
    op.execute("ALTER TABLE provider_accounts DROP CONSTRAINT provider_accounts_provider")
    op.execute(
        "ALTER TABLE provider_accounts ADD CONSTRAINT provider_accounts_provider"
        " CHECK (provider IN ('google', 'microsoft'))"
    )
