"""The shared part of the control API, mounted under `/_control`.

Endpoints (JSON in and out; see docs/emulators.md):

- `GET  /_control/clock` → `{"now", "frozen"}`;
  `POST /_control/clock` `{"set"?: iso datetime, "advance_seconds"?: float,
  "freeze"?: bool}` (applied in that order: freeze/unfreeze, set, advance).
- `GET  /_control/faults`; `POST /_control/faults` `{"kind", "probability"?, "times"?,
  "match"?: {"method","path","account"}, "params"?: {...}}` → 201 the rule;
  `DELETE /_control/faults` (all) and `DELETE /_control/faults/{id}` → 204.
- `GET  /_control/calls?account=&path_prefix=`; `DELETE /_control/calls`.
- `GET  /_control/deliveries?account=&channel=`; `DELETE /_control/deliveries`.
- `POST /_control/drain` → waits for all pending push deliveries.
- `POST /_control/accounts` (provider-defined body) → 201 the account with tokens;
  `POST /_control/accounts/{email}/tokens` → fresh tokens without a browser.

A provider adds its own endpoints to the router this returns (or mounts another
router under the same prefix).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Body, HTTPException, Response
from pydantic import BaseModel, Field

from spacecal.emulators.common.core import EmulatorCore
from spacecal.emulators.common.faults import FaultKind

CONTROL_PREFIX = "/_control"


class AccountAdmin(Protocol):
    """What a provider emulator offers the shared account endpoints."""

    def control_create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an account from a control request body; return it with tokens."""
        ...

    def control_issue_tokens(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        """Issue tokens for an existing account (KeyError when unknown)."""
        ...


class ClockChange(BaseModel):
    set: datetime | None = None
    advance_seconds: float | None = None
    freeze: bool | None = None


class FaultMatchIn(BaseModel):
    method: str | None = None
    path: str | None = None
    account: str | None = None


class FaultIn(BaseModel):
    kind: FaultKind
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    times: int | None = Field(default=None, ge=1)
    match: FaultMatchIn = Field(default_factory=FaultMatchIn)
    params: dict[str, Any] = Field(default_factory=dict)


def control_router(core: EmulatorCore, admin: AccountAdmin, *, provider: str) -> APIRouter:
    router = APIRouter(prefix=CONTROL_PREFIX, tags=["control"])

    def clock_state() -> dict[str, Any]:
        return {"now": core.clock.now().isoformat(), "frozen": core.clock.frozen}

    @router.get("/info")
    def info() -> dict[str, Any]:
        return {"provider": provider, "seed": core.seed, "now": core.clock.now().isoformat()}

    @router.get("/clock")
    def get_clock() -> dict[str, Any]:
        return clock_state()

    @router.post("/clock")
    def change_clock(change: ClockChange) -> dict[str, Any]:
        if change.set is not None and change.set.tzinfo is None:
            raise HTTPException(400, "set needs a timezone offset")
        if change.freeze is True:
            core.clock.freeze()
        elif change.freeze is False:
            core.clock.unfreeze()
        if change.set is not None:
            core.clock.set(change.set)
        if change.advance_seconds is not None:
            core.clock.advance(timedelta(seconds=change.advance_seconds))
        return clock_state()

    @router.get("/faults")
    def list_faults() -> list[dict[str, Any]]:
        return [rule.as_dict() for rule in core.faults.rules()]

    @router.post("/faults", status_code=201)
    def add_fault(fault: FaultIn) -> dict[str, Any]:
        rule = core.faults.add(
            fault.kind,
            probability=fault.probability,
            times=fault.times,
            method=fault.match.method,
            path=fault.match.path,
            account=fault.match.account,
            **fault.params,
        )
        return rule.as_dict()

    @router.delete("/faults", status_code=204)
    def clear_faults() -> Response:
        core.faults.clear()
        return Response(status_code=204)

    @router.delete("/faults/{rule_id}", status_code=204)
    def remove_fault(rule_id: int) -> Response:
        if not core.faults.remove(rule_id):
            raise HTTPException(404, "no such fault rule")
        return Response(status_code=204)

    @router.get("/calls")
    def list_calls(
        account: str | None = None, path_prefix: str | None = None
    ) -> list[dict[str, Any]]:
        return [r.as_dict() for r in core.calls.list(account=account, path_prefix=path_prefix)]

    @router.delete("/calls", status_code=204)
    def clear_calls() -> Response:
        core.calls.clear()
        return Response(status_code=204)

    @router.get("/deliveries")
    def list_deliveries(
        account: str | None = None, channel: str | None = None
    ) -> list[dict[str, Any]]:
        return [r.as_dict() for r in core.deliveries.list(account=account, channel=channel)]

    @router.delete("/deliveries", status_code=204)
    def clear_deliveries() -> Response:
        core.deliveries.clear()
        return Response(status_code=204)

    @router.post("/drain")
    async def drain() -> dict[str, Any]:
        await core.drain()
        return {"drained": True}

    @router.post("/accounts", status_code=201)
    def create_account(body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        try:
            return admin.control_create_account(body)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    @router.post("/accounts/{email}/tokens")
    def issue_tokens(
        email: str,
        body: dict[str, Any] = Body(default_factory=dict),  # noqa: B008
    ) -> dict[str, Any]:
        try:
            return admin.control_issue_tokens(email, body)
        except KeyError as exc:
            raise HTTPException(404, f"no account {email}") from exc
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc

    return router
