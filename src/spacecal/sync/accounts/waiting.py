"""The periodic resume of set-ups that wait for their account's limits.

A set-up that met the read-only pause or the pace of calendar creation (sync/limits.py)
stores `connections.setup_after` and stays `provisioning`. This task, on the sweep's
schedule, resumes every such set-up whose time has come, oldest first and a bounded
number per run; one that has to wait again stores its new time. Level-triggered: the
rows are the state, a lost run is caught up by the next.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from spacecal import clock, jobs
from spacecal.db.conditions import AccountStatus, Health
from spacecal.db.models import Connection, ProviderAccount
from spacecal.jobs import names
from spacecal.sync.accounts.provisioning import Provisioner
from spacecal.sync.accounts.setup_rows import ProvisioningFailed, ProvisioningWaiting
from spacecal.sync.runtime import SyncRuntime

log = logging.getLogger("spacecal.sync")

BATCH = 50


async def resume_waiting(rt: SyncRuntime, provisioner: Provisioner | None = None) -> int:
    """Resume the waiting set-ups that are due; returns how many finished."""
    now = clock.now()
    async with rt.db.engine.connect() as conn:
        due = (
            await conn.scalars(
                select(Connection.id)
                .join(ProviderAccount, ProviderAccount.id == Connection.provider_account_id)
                .where(
                    Connection.setup_after <= now,
                    Connection.health == Health.PROVISIONING,
                    ProviderAccount.status == AccountStatus.ACTIVE,
                )
                .order_by(Connection.setup_after, Connection.id)
                .limit(BATCH)
            )
        ).all()
    prov = provisioner or Provisioner(rt)
    finished = 0
    for connection_id in due:
        try:
            await prov.resume(connection_id)
        except ProvisioningWaiting:
            continue
        except ProvisioningFailed as exc:
            log.info("waiting set-up failed: %s", exc, extra={"connection_id": connection_id})
            continue
        finished += 1
    return finished


@jobs.periodic_task(
    names.RESUME_SETUPS,
    periodic_id="resume_setups",
    schedule=lambda s: jobs.every(s.sweep_every_seconds),
)
async def resume_waiting_task(rt: SyncRuntime) -> None:
    finished = await resume_waiting(rt)
    if finished:
        log.info("finished %d waiting set-up(s)", finished)
