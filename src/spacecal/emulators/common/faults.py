"""The fault plan: rules that make an emulator misbehave on purpose.

A rule names a `FaultKind`, fires with a `probability` (drawn from the emulator's
seeded RNG, so a run is reproducible) and at most `times` times (None = unlimited;
"the next N calls" is probability 1 with times=N), optionally only where `match`
matches, and carries kind-specific `params`.

Matching (all given fields must match):
- `method`: HTTP method, case-insensitive. For notifications it is "POST".
- `path`: an `fnmatch` glob on the request path (e.g. "/calendar/v3/calendars/*/events").
  For notification faults it is matched against the delivery address (a full URL).
- `account`: the account (email) the call or notification belongs to.

Where each kind is applied:
- http_429, http_403_rate_limit, http_5xx, slow: by the common middleware, on any
  non-control request; the provider turns the rule into its own wire error.
  params: http_429 `retry_after` (seconds, default 1); http_5xx `status` (default 500);
  slow `seconds` (default 1.0, the answer is delayed, then served normally).
- lost_response: by the common middleware, after the other HTTP kinds did not fire:
  the request is served in full (a write takes effect), then the answer is thrown
  away and the client gets a 5xx instead (a gateway timing out after the backend
  committed). params: `status` (default 504). The call log shows the 5xx.
- sync_token_expired: by the provider on the next incremental sync call (Google: 410
  fullSyncRequired; the token is then dead for good).
- revoke_refresh_token: by the provider on the next refresh-token grant (the refresh
  token is revoked before the grant is evaluated, so the call answers invalid_grant).
- drop_notification, duplicate_notification, delay_notification: by the push queue
  when a notification is enqueued. delay params: `seconds` (real time, default 0.2);
  a delayed notification is overtaken by later ones, which is how reordering happens.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from spacecal.emulators.common.rng import EmulatorRandom


class FaultKind(StrEnum):
    DROP_NOTIFICATION = "drop_notification"
    DUPLICATE_NOTIFICATION = "duplicate_notification"
    DELAY_NOTIFICATION = "delay_notification"
    HTTP_429 = "http_429"
    HTTP_403_RATE_LIMIT = "http_403_rate_limit"
    HTTP_5XX = "http_5xx"
    SLOW = "slow"
    SYNC_TOKEN_EXPIRED = "sync_token_expired"  # noqa: S105 (a fault name, not a secret)
    REVOKE_REFRESH_TOKEN = "revoke_refresh_token"  # noqa: S105 (a fault name)
    LOST_RESPONSE = "lost_response"


#: The kinds the common middleware applies to HTTP requests, in the order it tries them.
HTTP_FAULT_KINDS = (
    FaultKind.SLOW,
    FaultKind.HTTP_429,
    FaultKind.HTTP_403_RATE_LIMIT,
    FaultKind.HTTP_5XX,
)


@dataclass
class FaultMatch:
    method: str | None = None
    path: str | None = None
    account: str | None = None

    def matches(self, method: str | None, path: str | None, account: str | None) -> bool:
        if self.method is not None and (method or "").upper() != self.method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path or "", self.path):
            return False
        return self.account is None or self.account == account

    def as_dict(self) -> dict[str, str | None]:
        return {"method": self.method, "path": self.path, "account": self.account}


@dataclass
class FaultRule:
    id: int
    kind: FaultKind
    probability: float = 1.0
    times: int | None = None
    match: FaultMatch = field(default_factory=FaultMatch)
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "probability": self.probability,
            "times": self.times,
            "match": self.match.as_dict(),
            "params": dict(self.params),
            "fired": self.fired,
        }


class FaultPlan:
    """The live set of fault rules of one emulator."""

    def __init__(self, rng: EmulatorRandom) -> None:
        self._rng = rng
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(
        self,
        kind: FaultKind | str,
        *,
        probability: float = 1.0,
        times: int | None = None,
        method: str | None = None,
        path: str | None = None,
        account: str | None = None,
        **params: Any,
    ) -> FaultRule:
        """Add a rule; `times=N` with the default probability means "the next N calls"."""
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for unlimited)")
        with self._lock:
            rule = FaultRule(
                id=self._next_id,
                kind=FaultKind(kind),
                probability=probability,
                times=times,
                match=FaultMatch(method=method, path=path, account=account),
                params=params,
            )
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def draw(
        self,
        kind: FaultKind,
        *,
        method: str | None = None,
        path: str | None = None,
        account: str | None = None,
    ) -> FaultRule | None:
        """The first live rule of `kind` that matches and wins its draw, counted as fired.

        A random number is drawn only for rules with probability strictly between
        0 and 1, so adding a "next N calls" rule does not shift other draws.
        """
        with self._lock:
            for rule in self._rules:
                if rule.kind != kind or rule.exhausted:
                    continue
                if not rule.match.matches(method, path, account):
                    continue
                if rule.probability <= 0.0:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
            return None

    def reseed(self, seed: int) -> None:
        """Restart the draws from `seed` (a chaos run gives every scenario its own
        stream of fault draws without rebuilding the emulator)."""
        with self._lock:
            self._rng.seed(seed)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
