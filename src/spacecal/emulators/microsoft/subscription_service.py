"""The live subscriptions of the emulator and what happens to them.

Ties together the rules in ``subscriptions`` (parsing, lifetimes, validation) and the
``Notifier``. Subscriptions belong to the app (``client_id``) that created them;
``GET /subscriptions`` lists only the caller's app's live subscriptions for the
caller's mailbox. Lifecycle events: ``reauthorizationRequired`` marks the
subscription (cleared by a PATCH renew or ``/reauthorize``); ``subscriptionRemoved``
deletes it after the notification is queued; ``missed`` only notifies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx2

from spacecal.emulators.common import DeliveryLog

from .clocklike import ClockLike
from .errors import GraphError, bad_request
from .graph_context import Caller
from .ids import IdFactory
from .model import Instance
from .notifier import LIFECYCLE_EVENTS, Notifier
from .subscriptions import (
    MAX_PER_MAILBOX,
    Subscription,
    grant_expiration,
    parse_change_types,
    parse_resource,
    validate_url,
    validation_token,
)


def _sub_not_found() -> GraphError:
    return GraphError(404, "ResourceNotFound", "The object was not found.")


class SubscriptionRegistry:
    def __init__(
        self,
        ids: IdFactory,
        clock: ClockLike,
        notifier: Notifier,
        log: DeliveryLog,
        client: Callable[[], httpx2.AsyncClient],
    ) -> None:
        self._ids = ids
        self._clock = clock
        self.notifier = notifier
        self._log = log
        self._client = client
        self.subs: dict[str, Subscription] = {}
        self.minimum_lifetime = timedelta(minutes=45)
        self.maximum_lifetime = timedelta(minutes=10080)
        self.validation_timeout = 10.0

    # -- bookkeeping ---------------------------------------------------------------------
    def live(self) -> list[Subscription]:
        now = self._clock.now()
        for sub_id in [s.id for s in self.subs.values() if s.expiration <= now]:
            del self.subs[sub_id]
        return list(self.subs.values())

    def get(self, sub_id: str, caller: Caller | None = None) -> Subscription:
        # One lookup, not a pass over every subscription (`live`): renewing thousands
        # would otherwise cost the emulator O(n) each.
        sub = self.subs.get(sub_id)
        if sub is not None and sub.expiration <= self._clock.now():
            del self.subs[sub_id]
            sub = None
        if sub is None or (
            caller is not None
            and (sub.user_id != caller.account.user_id or sub.client_id != caller.grant.client_id)
        ):
            raise _sub_not_found()
        return sub

    # -- API operations --------------------------------------------------------------------
    async def create(self, caller: Caller, payload: dict[str, Any]) -> Subscription:
        resource = payload.get("resource")
        if not isinstance(resource, str):
            raise bad_request("resource is required.", "InvalidRequest")
        user, cal_id = parse_resource(resource)
        account = caller.account
        if user is not None and user.lower() not in (account.user_id, account.email.lower()):
            raise GraphError(403, "ExtensionError", "Access is denied to the requested resource.")
        mailbox = caller.mailbox
        calendar_id = cal_id or mailbox.default_calendar.id
        mailbox.calendar(calendar_id)
        change_types = parse_change_types(payload.get("changeType"))
        url = payload.get("notificationUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise bad_request("notificationUrl must be an absolute http(s) URL.", "InvalidRequest")
        lifecycle = payload.get("lifecycleNotificationUrl")
        if lifecycle is not None and (
            not isinstance(lifecycle, str) or not lifecycle.startswith(("http://", "https://"))
        ):
            raise bad_request(
                "lifecycleNotificationUrl must be an absolute http(s) URL.", "InvalidRequest"
            )
        client_state = payload.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > 128
        ):
            raise bad_request("clientState must be a string of at most 128 characters.")
        now = self._clock.now()
        expiration = grant_expiration(
            payload.get("expirationDateTime"), now, self.minimum_lifetime, self.maximum_lifetime
        )
        mine = [s for s in self.live() if s.user_id == account.user_id]
        for other in mine:
            if (
                other.client_id == caller.grant.client_id
                and other.calendar_id == calendar_id
                and set(other.change_types) == set(change_types)
            ):
                raise GraphError(
                    409,
                    "ExtensionError",
                    "Operation: Create; Exception: [Status Code: Conflict; Reason: A "
                    "subscription with the same resource and changeType already exists: "
                    f"{other.id}]",
                )
        if len(mine) >= MAX_PER_MAILBOX:
            raise GraphError(
                403,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; Reason: Number of "
                "subscriptions exceeded maximum]",
            )
        for target in (url, lifecycle):
            if target is not None:
                token = validation_token(self._ids.uuid())
                await validate_url(
                    self._client(),
                    target,
                    token,
                    self.validation_timeout,
                    self._log,
                    now,
                    account.email,
                )
        sub = Subscription(
            id=self._ids.uuid(),
            user_id=account.user_id,
            account_email=account.email,
            client_id=caller.grant.client_id,
            resource=resource,
            calendar_id=calendar_id,
            change_types=change_types,
            notification_url=url,
            lifecycle_url=lifecycle,
            client_state=client_state,
            expiration=expiration,
            tenant_id=account.tenant_id,
        )
        self.subs[sub.id] = sub
        return sub

    async def update(self, caller: Caller, sub_id: str, payload: dict[str, Any]) -> Subscription:
        sub = self.get(sub_id, caller)
        if "lifecycleNotificationUrl" in payload:
            raise bad_request(
                "lifecycleNotificationUrl can only be set when the subscription is created.",
                "InvalidRequest",
            )
        now = self._clock.now()
        expiration = sub.expiration
        if "expirationDateTime" in payload:
            expiration = grant_expiration(
                payload["expirationDateTime"], now, self.minimum_lifetime, self.maximum_lifetime
            )
        url = payload.get("notificationUrl")
        if url is not None and url != sub.notification_url:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise bad_request("notificationUrl must be an absolute http(s) URL.")
            token = validation_token(self._ids.uuid())
            await validate_url(
                self._client(),
                url,
                token,
                self.validation_timeout,
                self._log,
                now,
                sub.account_email,
            )
            sub.notification_url = url
        sub.expiration = expiration
        sub.needs_reauthorization = False
        return sub

    def delete(self, caller: Caller, sub_id: str) -> None:
        sub = self.get(sub_id, caller)
        del self.subs[sub.id]

    def reauthorize(self, caller: Caller, sub_id: str) -> Subscription:
        sub = self.get(sub_id, caller)
        sub.needs_reauthorization = False
        return sub

    def list_for(self, caller: Caller) -> list[Subscription]:
        return [
            s
            for s in self.live()
            if s.user_id == caller.account.user_id and s.client_id == caller.grant.client_id
        ]

    # -- events -------------------------------------------------------------------------------
    def trigger_lifecycle(self, sub_id: str, event: str) -> dict[str, Any]:
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"lifecycle event must be one of {', '.join(LIFECYCLE_EVENTS)}")
        sub = self.subs.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        sent = self.notifier.lifecycle(sub, event)
        if event == "reauthorizationRequired":
            sub.needs_reauthorization = True
        elif event == "subscriptionRemoved":
            self.subs.pop(sub.id, None)
        return {"subscriptionId": sub.id, "lifecycleEvent": event, "sent": sent}

    def on_change(
        self, user_id: str, calendar_id: str, resource_id: str, change: str, etag: str | None
    ) -> None:
        targets = [s for s in self.live() if s.user_id == user_id and s.calendar_id == calendar_id]
        if targets:
            self.notifier.notify(targets, change, resource_id, etag)


def etag_of(item: object) -> str | None:
    if isinstance(item, Instance):
        return item.change_key
    change_key = getattr(item, "change_key", None)
    return change_key if isinstance(change_key, str) else None
