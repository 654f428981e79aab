"""The job outbox: database triggers write rows here instead of calling procrastinate.

Migration 0008's trigger functions deferred outbound webhook deliveries by calling
`procrastinate_defer_jobs_v1` inside every booking and connection write: a
procrastinate upgrade that retires `_v1` would have broken booking writes. Now the
trigger writes one `job_outbox` row per delivery (queue, task name, arguments: the
same `jsonb_build_object` as before), in the same transaction as the change, and
the dispatcher beside every worker turns the rows into jobs (jobs.drain_outbox,
sync/intake/dispatch.py). Only jobs/ knows procrastinate (DESIGN).

Behaviour is unchanged: one delivery per active webhook of the action, nothing
(one index probe) when there is none; the stored queue and task names
(`outbound`, `spacecal.outbound.deliver`) stay, and deliveries already queued as
job rows run as before. Only `spacecal_outbound_defer` changes; the booking and
connection trigger functions of 0008 call it as they did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OUTBOX_FUNCTION = """
CREATE OR REPLACE FUNCTION spacecal_outbound_defer(p_action text, p_record text, p_snapshot jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_outbox (queue_name, task_name, args)
    SELECT 'outbound', 'spacecal.outbound.deliver',
           jsonb_build_object('webhook_id', w.id, 'action', p_action,
                              'record', p_record, 'snapshot', p_snapshot)
    FROM webhooks w WHERE w.active AND w.action = p_action ORDER BY w.id;
END
$$
"""

# 0008's version, for the downgrade.
DEFER_FUNCTION = """
CREATE OR REPLACE FUNCTION spacecal_outbound_defer(p_action text, p_record text, p_snapshot jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE active AND action = p_action) THEN
        RETURN;
    END IF;
    PERFORM procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW('outbound', 'spacecal.outbound.deliver', 0, NULL, NULL,
                   jsonb_build_object('webhook_id', w.id, 'action', p_action,
                                      'record', p_record, 'snapshot', p_snapshot),
                   NULL)::procrastinate_job_to_defer_v1
        FROM webhooks w WHERE w.active AND w.action = p_action ORDER BY w.id));
END
$$
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE job_outbox ("
        " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " queue_name text NOT NULL,"
        " task_name text NOT NULL,"
        " args jsonb NOT NULL)"
    )
    op.execute(OUTBOX_FUNCTION)


def downgrade() -> None:
    op.execute(DEFER_FUNCTION)
    # Rows not yet dispatched become the jobs they stand for.
    op.execute(
        "SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(queue_name, task_name, 0,"
        " NULL, NULL, args, NULL)::procrastinate_job_to_defer_v1 FROM job_outbox ORDER BY id))"
    )
    op.execute("DROP TABLE job_outbox")
