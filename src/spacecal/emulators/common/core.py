"""`EmulatorCore`: the clock, RNG, fault plan, logs and push queue of one emulator.

A provider emulator owns exactly one core and builds everything random or
time-dependent on it, so one seed and one clock describe a whole run.
"""

from __future__ import annotations

import httpx2
from starlette.types import ASGIApp

from spacecal.emulators.common.clock import EmulatorClock
from spacecal.emulators.common.faults import FaultPlan
from spacecal.emulators.common.logs import CallLog, DeliveryLog
from spacecal.emulators.common.middleware import (
    AccountResolver,
    EmulatorMiddleware,
    FaultResponder,
)
from spacecal.emulators.common.push import PushQueue
from spacecal.emulators.common.rng import EmulatorRandom


class EmulatorCore:
    def __init__(
        self,
        *,
        seed: int = 0,
        clock: EmulatorClock | None = None,
        push_client: httpx2.AsyncClient | None = None,
        push_retry_base: float = 0.02,
        push_retry_cap: float = 1.0,
        push_max_attempts: int = 5,
    ) -> None:
        self.seed = seed
        self.clock = clock if clock is not None else EmulatorClock()
        self.rng = EmulatorRandom(seed)
        # Faults draw from their own stream, so switching a probabilistic fault on
        # does not change the ids and tokens the emulator hands out.
        self.faults = FaultPlan(EmulatorRandom(seed ^ 0x5EED))
        self.calls = CallLog()
        self.deliveries = DeliveryLog()
        self.push = PushQueue(
            clock=self.clock,
            faults=self.faults,
            log=self.deliveries,
            client=push_client,
            retry_base=push_retry_base,
            retry_cap=push_retry_cap,
            max_attempts=push_max_attempts,
        )

    def wrap(
        self,
        app: ASGIApp,
        *,
        fault_responder: FaultResponder,
        account_of: AccountResolver,
        exempt_prefixes: tuple[str, ...] = ("/_control",),
    ) -> ASGIApp:
        """Wrap a provider app in the call-log and HTTP-fault middleware."""
        return EmulatorMiddleware(
            app,
            clock=self.clock,
            faults=self.faults,
            calls=self.calls,
            fault_responder=fault_responder,
            account_of=account_of,
            exempt_prefixes=exempt_prefixes,
        )

    async def drain(self) -> None:
        await self.push.drain()

    async def aclose(self) -> None:
        await self.push.aclose()
