"""Graph change-notification subscriptions: create, renew in place, remove, list.

Apart from the calendar and event calls because a subscription has its own lifetime
rules (capped by settings; Graph cannot change a clientState, so a renewal keeps it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from spacecal import clock
from spacecal.providers.base import NotFound, Subscription
from spacecal.providers.microsoft.graph import GraphClient, graph_time
from spacecal.providers.microsoft.wire import calendar_of_resource
from spacecal.providers.paths import checked, subscription_segment

CHANGE_TYPES = "created,updated,deleted"


class GraphSubscriptions(GraphClient):
    """The push half of `MicrosoftProvider`."""

    def _expiry(self, ttl_seconds: int) -> datetime:
        lifetime = min(timedelta(seconds=ttl_seconds), self._max_lifetime)
        return clock.now() + lifetime

    def _subscription(self, body: dict[str, Any], secret: str | None = None) -> Subscription:
        resource = str(body.get("resource") or "")
        return Subscription(
            id=str(body["id"]),
            expires_at=datetime.fromisoformat(str(body["expirationDateTime"])).astimezone(UTC),
            secret=secret if secret is not None else str(body.get("clientState") or ""),
            calendar_id=calendar_of_resource(resource),
        )

    async def subscribe(
        self,
        access: str,
        calendar_id: str,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        secret: str,
        ttl_seconds: int,
    ) -> Subscription:
        """POST /subscriptions; Graph validates both URLs before answering. A second
        subscription on the same calendar answers 409 -> Conflict: list_subscriptions
        finds the leftover."""
        request: dict[str, Any] = {
            "changeType": CHANGE_TYPES,
            "notificationUrl": notification_url,
            "resource": f"me/calendars/{checked(calendar_id, 'calendar id')}/events",
            "expirationDateTime": graph_time(self._expiry(ttl_seconds)),
            "clientState": secret,
        }
        if lifecycle_url:
            request["lifecycleNotificationUrl"] = lifecycle_url
        body = await self._call("POST", "/subscriptions", access, body=request)
        made = self._subscription(body, secret)
        return Subscription(
            id=made.id, expires_at=made.expires_at, secret=secret, calendar_id=calendar_id
        )

    async def renew(
        self,
        access: str,
        calendar_id: str,
        current: Subscription,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        new_secret: str,
        ttl_seconds: int,
    ) -> Subscription:
        """PATCH the expiry of the same subscription. Graph cannot change clientState,
        so the result keeps `current.secret` (not `new_secret`). Gone -> NotFound."""
        body = await self._call(
            "PATCH",
            f"/subscriptions/{subscription_segment(current.id)}",
            access,
            body={"expirationDateTime": graph_time(self._expiry(ttl_seconds))},
        )
        renewed = self._subscription(body, current.secret)
        return Subscription(
            id=renewed.id,
            expires_at=renewed.expires_at,
            secret=current.secret,
            calendar_id=calendar_id,
        )

    async def unsubscribe(self, access: str, subscription: Subscription) -> None:
        """DELETE; already gone (expired, removed) counts as done."""
        try:
            await self._call(
                "DELETE", f"/subscriptions/{subscription_segment(subscription.id)}", access
            )
        except NotFound:
            return

    async def list_subscriptions(self, access: str) -> list[Subscription]:
        """The app's live subscriptions in this mailbox, with their calendar ids."""
        return [
            self._subscription(item)
            for item in await self._pages(self._graph + "/subscriptions", access)
        ]
