"""Change and lifecycle notifications: batching, duplicates, delivery with retries.

* Each committed write produces one item per live subscription on that calendar
  whose ``changeType`` includes the change. Items wait in an outbox per
  ``notificationUrl``; the outbox is flushed on the next event-loop turn (or by
  ``drain()``), so all items produced together for one URL go out in ONE POST
  ``{"value": [...]}``, even when they belong to several subscriptions.
* Duplicates as the real service sends them: a ``created`` item is followed by an
  ``updated`` item for the same event (when the subscription includes ``updated``),
  in the NEXT batch to that URL. Clients must treat notifications as hints.
* Delivery uses its own push queue (shared clock, faults and delivery log): an answer
  slower than ``notification_timeout`` (3 s) or any non-2xx answer counts as failed
  and is retried with exponential backoff (short, configurable defaults; the real
  service keeps trying for up to 4 hours).
* Lifecycle notifications go to ``lifecycleNotificationUrl`` through the same queue.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from spacecal.emulators.common import PushQueue

from .subscriptions import Subscription
from .timezones import format_utc

LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def _expiry(sub: Subscription) -> str:
    return format_utc(sub.expiration).replace("Z", "+00:00")


def change_item(
    sub: Subscription, change: str, resource_id: str, etag: str | None
) -> dict[str, Any]:
    path = f"Users/{sub.user_id}/Events/{resource_id}"
    data: dict[str, Any] = {
        "@odata.type": "#Microsoft.Graph.Event",
        "@odata.id": path,
        "id": resource_id,
    }
    if etag:
        data["@odata.etag"] = f'W/"{etag}"'
    item: dict[str, Any] = {
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": _expiry(sub),
        "changeType": change,
        "resource": path,
        "resourceData": data,
        "tenantId": sub.tenant_id,
    }
    if sub.client_state is not None:
        item["clientState"] = sub.client_state
    return item


class Notifier:
    def __init__(self, queue: PushQueue) -> None:
        self.queue = queue
        self._outbox: dict[str, list[tuple[Subscription, dict[str, Any]]]] = {}
        self._later: dict[str, list[tuple[Subscription, dict[str, Any]]]] = {}
        self._scheduled = False

    def notify(
        self,
        subs: list[Subscription],
        change: str,
        resource_id: str,
        etag: str | None,
    ) -> None:
        for sub in subs:
            if change in sub.change_types:
                item = change_item(sub, change, resource_id, etag)
                self._outbox.setdefault(sub.notification_url, []).append((sub, item))
            if change == "created" and "updated" in sub.change_types:
                dup = change_item(sub, "updated", resource_id, etag)
                self._later.setdefault(sub.notification_url, []).append((sub, dup))
        self._schedule()

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Queue one lifecycle notification; ``False`` when the sub has no lifecycle URL."""
        if sub.lifecycle_url is None:
            return False
        item: dict[str, Any] = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": _expiry(sub),
            "tenantId": sub.tenant_id,
            "lifecycleEvent": event,
        }
        if sub.client_state is not None:
            item["clientState"] = sub.client_state
        self._send(sub.lifecycle_url, [(sub, item)])
        return True

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # flushed by the next drain()
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send everything in the outbox (one POST per URL); duplicates go next round."""
        self._scheduled = False
        outbox, self._outbox = self._outbox, {}
        for url, entries in outbox.items():
            self._send(url, entries)
        if self._later:
            self._outbox, self._later = self._later, {}
            self._schedule()

    def _send(self, url: str, entries: list[tuple[Subscription, dict[str, Any]]]) -> None:
        subs = sorted({sub.id for sub, _ in entries})
        body = json.dumps({"value": [item for _, item in entries]}).encode()
        self.queue.enqueue(
            url,
            {"Content-Type": "application/json; charset=utf-8"},
            body,
            account=entries[0][0].account_email,
            channel=",".join(subs),
        )

    @property
    def idle(self) -> bool:
        return not self._outbox and not self._later

    async def drain(self) -> None:
        """Flush until nothing is waiting, then wait for delivery to finish."""
        while not self.idle:
            self.flush()
            await asyncio.sleep(0)
        await self.queue.drain()
