"""What a client did and what the emulator sent: the call log and the delivery log.

Tests (and people debugging a demo) read these through the control API to assert on
behaviour a provider would see: which calls arrived with which answer, and which
notifications went out with which outcome.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class CallRecord:
    seq: int
    time: datetime
    method: str
    path: str
    query: str
    status: int
    account: str | None
    fault: str | None = None
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


@dataclass
class DeliveryRecord:
    """One POST attempt of one notification (or a notification that was dropped).

    `outcome` is one of: "delivered" (a success status), "retrying" (5xx or connection
    error, another attempt follows), "failed" (a non-retryable answer, or attempts
    exhausted), "dropped" (a drop fault: never sent, `attempt` 0).
    """

    seq: int
    notification_id: int
    time: datetime
    address: str
    headers: dict[str, str]
    body: str
    attempt: int
    outcome: str
    account: str | None = None
    channel: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    duplicate: bool = False
    delayed_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat()
        return data


class CallLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []
        self._seq = 0

    def record(self, **fields: Any) -> CallRecord:
        with self._lock:
            self._seq += 1
            rec = CallRecord(seq=self._seq, **fields)
            self._records.append(rec)
            return rec

    def list(
        self, *, account: str | None = None, path_prefix: str | None = None
    ) -> list[CallRecord]:
        with self._lock:
            out = list(self._records)
        if account is not None:
            out = [r for r in out if r.account == account]
        if path_prefix is not None:
            out = [r for r in out if r.path.startswith(path_prefix)]
        return out

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


class DeliveryLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[DeliveryRecord] = []
        self._seq = 0

    def record(self, **fields: Any) -> DeliveryRecord:
        with self._lock:
            self._seq += 1
            rec = DeliveryRecord(seq=self._seq, **fields)
            self._records.append(rec)
            return rec

    def list(
        self, *, account: str | None = None, channel: str | None = None
    ) -> list[DeliveryRecord]:
        with self._lock:
            out = list(self._records)
        if account is not None:
            out = [r for r in out if r.account == account]
        if channel is not None:
            out = [r for r in out if r.channel == channel]
        return out

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
