"""Every stored job name: the queues and task names procrastinate keeps in its rows.

A name here is data, not code: queued job rows hold it (queued outbound deliveries
exist only as job rows), migration 0012's trigger SQL writes the delivery task's
name into the outbox (0008's deferred it directly), and procrastinate looks a job's
task up by it. So a
name never changes; a rename needs a migration of the queued rows.
`tests/jobs/test_registry.py` pins the registered names to a frozen list.
"""

from __future__ import annotations

SYNC_QUEUE = "sync"
OUTBOUND_QUEUE = "outbound"
MAIL_QUEUE = "mail"
QUEUES = (SYNC_QUEUE, OUTBOUND_QUEUE, MAIL_QUEUE)

RECONCILE = "spacecal.reconcile"  # sync/reconcile/task.py
KEEPALIVE = "spacecal.keepalive"  # sync/upkeep/keepalive.py, one connection
STOP_ORPHANS = "spacecal.stop_orphans"  # sync/upkeep/orphan_channels.py
MARK_CALENDARS = "spacecal.mark_calendars"  # sync/reconcile/verify.py (migration 0014)
DELIVER = "spacecal.outbound.deliver"  # outbound/tasks.py
PROCESS_MAIL = "spacecal.mail.process"  # mail/jobs.py, one received message
# Periodic:
SWEEP = "spacecal.sweep"  # sync/upkeep/sweep.py
KEEPALIVE_PASS = "spacecal.renewal"  # noqa: S105 (a task name, not a password); sync/upkeep/keepalive_pass.py (the name predates the pass)
PRUNE = "spacecal.prune"  # sync/upkeep/prune.py
RECOVER_STALLED = "spacecal.recover_stalled"  # jobs/periodic.py
RESUME_SETUPS = "spacecal.resume_setups"  # sync/accounts/waiting.py
PRUNE_MAIL = "spacecal.mail.prune"  # mail/jobs.py
MAIL_SEND = "spacecal.mail.send"  # mail/sender.py (migration 0024)
MAIL_HORIZON = "spacecal.mail.horizon"  # mail/horizon.py (migration 0024)

#: The queue of each task (job rows are inserted with it).
QUEUE_OF: dict[str, str] = {
    RECONCILE: SYNC_QUEUE,
    KEEPALIVE: SYNC_QUEUE,
    STOP_ORPHANS: SYNC_QUEUE,
    MARK_CALENDARS: SYNC_QUEUE,
    DELIVER: OUTBOUND_QUEUE,
    PROCESS_MAIL: MAIL_QUEUE,
    SWEEP: SYNC_QUEUE,
    KEEPALIVE_PASS: SYNC_QUEUE,
    PRUNE: SYNC_QUEUE,
    RECOVER_STALLED: SYNC_QUEUE,
    RESUME_SETUPS: SYNC_QUEUE,
    PRUNE_MAIL: MAIL_QUEUE,
    MAIL_SEND: OUTBOUND_QUEUE,
    MAIL_HORIZON: SYNC_QUEUE,
}
TASKS = tuple(QUEUE_OF)
