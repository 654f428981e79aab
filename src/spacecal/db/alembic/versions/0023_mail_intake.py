"""Invitations by mail, receiving: addresses, verified senders, received messages.

- `invitation_addresses`: a member's personal address per resource,
  `<slug>+<token>@<mail domain>`. A token replaced from the portal keeps its row
  (`replaced_at` set): it still routes updates and cancels of the UIDs it booked.
- `mail_senders`: extra sender addresses a member confirmed from the portal (the
  registered email counts without a row); `confirmed_at` NULL until the link is used.
- `mail_messages`: each accepted (message, recipient), stored before the SMTP 250,
  with its processing status and outcome; pruned after SPACECAL_MAIL_KEEP_DAYS.
- `resources.mail_slug`: the resource's part of its addresses, given on first use
  and kept (renaming the resource does not change its addresses).
- `businesses.invitations_plain_address`: the opt-in for `<slug>@<domain>`.

Revision ID: 0023
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE resources ADD COLUMN mail_slug varchar(64)")
    op.execute("CREATE UNIQUE INDEX resources_mail_slug ON resources (mail_slug)")
    op.execute(
        "ALTER TABLE businesses ADD COLUMN invitations_plain_address boolean NOT NULL DEFAULT false"
    )
    op.execute(
        "CREATE TABLE invitation_addresses ("
        " id bigserial PRIMARY KEY,"
        " coworker_id bigint NOT NULL REFERENCES coworkers (id) ON DELETE CASCADE,"
        " resource_id bigint NOT NULL REFERENCES resources (id) ON DELETE CASCADE,"
        " token varchar(64) NOT NULL,"
        " created_at timestamptz NOT NULL,"
        " replaced_at timestamptz,"
        " CONSTRAINT invitation_addresses_token UNIQUE (token))"
    )
    op.execute(
        "CREATE UNIQUE INDEX invitation_addresses_current ON invitation_addresses"
        " (coworker_id, resource_id) WHERE replaced_at IS NULL"
    )
    op.execute(
        "CREATE TABLE mail_senders ("
        " id bigserial PRIMARY KEY,"
        " coworker_id bigint NOT NULL REFERENCES coworkers (id) ON DELETE CASCADE,"
        " address varchar(320) NOT NULL,"
        " confirm_hash bytea,"
        " created_at timestamptz NOT NULL,"
        " confirmed_at timestamptz,"
        " CONSTRAINT mail_senders_member_address UNIQUE (coworker_id, address))"
    )
    op.execute(
        "CREATE TABLE mail_messages ("
        " id bigserial PRIMARY KEY,"
        " received_at timestamptz NOT NULL,"
        " mail_from varchar(320) NOT NULL,"
        " rcpt_to varchar(320) NOT NULL,"
        " resource_id bigint NOT NULL REFERENCES resources (id) ON DELETE CASCADE,"
        " coworker_id bigint REFERENCES coworkers (id) ON DELETE CASCADE,"
        " address_id bigint REFERENCES invitation_addresses (id) ON DELETE CASCADE,"
        " peer varchar(100) NOT NULL,"
        " size integer NOT NULL,"
        " raw bytea NOT NULL,"
        " status varchar(16) NOT NULL DEFAULT 'queued',"
        " outcome varchar(32),"
        " error text,"
        " processed_at timestamptz,"
        " CONSTRAINT mail_messages_status CHECK (status IN ('queued', 'done', 'failed')))"
    )
    op.execute("CREATE INDEX mail_messages_received_at ON mail_messages (received_at)")
    op.execute("CREATE INDEX mail_messages_coworker ON mail_messages (coworker_id)")


def downgrade() -> None:
    op.execute("DROP TABLE mail_messages")
    op.execute("DROP TABLE mail_senders")
    op.execute("DROP TABLE invitation_addresses")
    op.execute("ALTER TABLE businesses DROP COLUMN invitations_plain_address")
    op.execute("DROP INDEX resources_mail_slug")
    op.execute("ALTER TABLE resources DROP COLUMN mail_slug")
