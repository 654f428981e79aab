"""The shared emulator layer: clock, seeded RNG, faults, logs, push delivery, control API.

Stable public API (changes are additive only):

- `EmulatorClock(start=None, *, frozen=False)`: `now()` (aware UTC), `set(dt)`,
  `advance(timedelta)`, `freeze(dt=None)`, `unfreeze()`, `.frozen`.
- `EmulatorRandom(seed)`: a `random.Random` with `token(n)`, `hex(n)`, `base32hex(n)`,
  `chars(alphabet, n)`. Every random choice of an emulator goes through one.
- `FaultKind` (str enum): drop_notification, duplicate_notification,
  delay_notification, http_429, http_403_rate_limit, http_5xx, slow,
  sync_token_expired, revoke_refresh_token, lost_response (served, answer lost, 5xx).
  `FaultPlan.add(kind, *, probability=1.0, times=None, method=None, path=None,
  account=None, **params) -> FaultRule`; `draw(kind, *, method, path, account) ->
  FaultRule | None` (counts the firing); `rules()`, `remove(id)`, `clear()`,
  `reseed(seed)` (restart the fault draws from a new seed).
  Matching and per-kind params: see `faults` module docstring.
- `CallLog` / `CallRecord` (seq, time, method, path, query, status, account, fault,
  duration_ms); `DeliveryLog` / `DeliveryRecord` (seq, notification_id, time,
  address, headers, body, attempt, outcome, account, channel, status, latency_ms,
  error, duplicate, delayed_seconds, extra). Both have `list(...)`, `clear()`.
- `PushQueue`: `enqueue(address, headers, body=b"", *, account=None, channel=None)
  -> id` (applies drop/duplicate/delay faults; retries 500/502/503/504 and
  connection errors with bounded exponential backoff); `await send_now(...)` (one
  immediate POST, no faults/retries, recorded: e.g. Graph's validation handshake);
  `await drain()`; `await aclose()`; `.client` / `set_client(client)`.
- `EmulatorCore(*, seed=0, clock=None, push_client=None, push_retry_base=0.02,
  push_retry_cap=1.0, push_max_attempts=5)`: `.seed .clock .rng .faults .calls
  .deliveries .push`; `wrap(app, *, fault_responder, account_of)` wraps an ASGI app
  in `EmulatorMiddleware` (call log + HTTP faults, `/_control` exempt);
  `await drain()`, `await aclose()`.
- `set_call_account(scope, email)`: a handler names the account of the current call.
- `control_router(core, admin, *, provider) -> fastapi.APIRouter` with the shared
  `/_control` endpoints (clock, faults, calls, deliveries, drain, accounts, tokens);
  `admin` implements `AccountAdmin` (`control_create_account(body)`,
  `control_issue_tokens(email, body)`). Add provider endpoints to the same router.
- `format_http_date(dt)`: RFC 1123 date (e.g. for `X-Goog-Channel-Expiration`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from spacecal.emulators.common.clock import EmulatorClock
from spacecal.emulators.common.control import CONTROL_PREFIX, AccountAdmin, control_router
from spacecal.emulators.common.core import EmulatorCore
from spacecal.emulators.common.faults import FaultKind, FaultMatch, FaultPlan, FaultRule
from spacecal.emulators.common.logs import CallLog, CallRecord, DeliveryLog, DeliveryRecord
from spacecal.emulators.common.middleware import (
    AccountResolver,
    EmulatorMiddleware,
    FaultResponder,
    set_call_account,
)
from spacecal.emulators.common.push import PushQueue
from spacecal.emulators.common.rng import BASE32HEX, EmulatorRandom


def format_http_date(when: datetime) -> str:
    """RFC 1123 form, always GMT: "Sat, 28 Nov 2026 11:00:00 GMT"."""
    return format_datetime(when.astimezone(UTC), usegmt=True)


__all__ = [
    "BASE32HEX",
    "CONTROL_PREFIX",
    "AccountAdmin",
    "AccountResolver",
    "CallLog",
    "CallRecord",
    "DeliveryLog",
    "DeliveryRecord",
    "EmulatorClock",
    "EmulatorCore",
    "EmulatorMiddleware",
    "EmulatorRandom",
    "FaultKind",
    "FaultMatch",
    "FaultPlan",
    "FaultResponder",
    "FaultRule",
    "PushQueue",
    "control_router",
    "format_http_date",
    "set_call_account",
]
