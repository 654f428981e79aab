"""``MicrosoftEmulator``: Microsoft identity platform v2.0 + Graph v1.0, in one ASGI app.

Paths relative to ``base_url``: Graph under ``/v1.0``; identity under
``/{tenant}/oauth2/v2.0/authorize`` and ``/token`` (so the login base is
``base_url`` itself); control under ``/_control``. Everything random comes from the
seed; everything time-dependent from ``clock``. The Python methods below are what the
control API exposes, for tests that hold the emulator object.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx2
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Router

from spacecal.emulators.common import (
    DeliveryRecord,
    EmulatorClock,
    EmulatorCore,
    FaultKind,
    PushQueue,
    control_router,
    set_call_account,
)

from .batch import GraphBatch
from .budget_transport import BudgetTransport
from .calendar_routes import calendar_routes
from .common_faults import graph_fault_responder, sync_token_drawer
from .control_routes import add_microsoft_control
from .delta import DeltaEngine
from .delta_routes import delta_routes
from .errors import GraphError, graph_error_response
from .graph_context import GraphState
from .identity_routes import make_identity_handlers
from .identity_store import IdentityStore, normalise_scopes
from .ids import IdFactory
from .mailbox import Mailbox
from .member import MemberActions
from .notifier import Notifier
from .render import calendar_json
from .subscription_routes import subscription_routes
from .subscription_service import SubscriptionRegistry, etag_of
from .throttle import ConcurrencyLimiter

DEFAULT_CLIENT_ID = "spacecal-emulator-client"
DEFAULT_SCOPES = "openid email offline_access User.Read Calendars.ReadWrite"
_SUCCESS = frozenset(range(200, 300))
_RETRYABLE = frozenset(range(300, 600)) - _SUCCESS


class MicrosoftEmulator(MemberActions):
    def __init__(
        self,
        seed: int = 0,
        base_url: str = "http://microsoft.emulator.test",
        push_client: httpx2.AsyncClient | None = None,
        clock: EmulatorClock | None = None,
        *,
        notification_timeout: float = 3.0,
        validation_timeout: float = 10.0,
        retry_base: float = 0.02,
        retry_cap: float = 1.0,
        max_attempts: int = 5,
    ) -> None:
        self.core = EmulatorCore(seed=seed, clock=clock, push_client=push_client)
        self.base_url = base_url.rstrip("/")
        self.clock = self.core.clock
        self.faults = self.core.faults
        self.calls = self.core.calls
        self.deliveries = self.core.deliveries
        self.ids = IdFactory(self.core.rng)
        self.identity = IdentityStore(self.ids, self.clock, self.ids.uuid())
        self.delta = DeltaEngine(self.ids, self.core.rng)
        self.state = GraphState(self.ids, self.clock, self.identity, self.delta, self.base_url)
        self.state.on_new_mailbox = self._attach  # type: ignore[method-assign]
        self._delivery_client = push_client
        self._budget = BudgetTransport(self._inner_client, notification_timeout)
        self.notify_queue = PushQueue(
            clock=self.clock,
            faults=self.faults,
            log=self.deliveries,
            client=httpx2.AsyncClient(transport=self._budget),
            retry_base=retry_base,
            retry_cap=retry_cap,
            max_attempts=max_attempts,
            timeout=notification_timeout,
            success_statuses=_SUCCESS,
            retryable_statuses=_RETRYABLE,
        )
        self.notifier = Notifier(self.notify_queue)
        self.subscriptions = SubscriptionRegistry(
            self.ids, self.clock, self.notifier, self.deliveries, self._inner_client
        )
        self.subscriptions.validation_timeout = validation_timeout
        self.limiter: ConcurrencyLimiter
        # The shared `/_control/drain` calls `core.drain()`; route it through ours so it
        # also flushes the Graph outbox and the notification queue.
        self._core_drain = self.core.drain
        self.core.drain = self.drain  # type: ignore[method-assign]
        self._own_delivery_client = False
        self.app = self._build_app()

    # -- wiring ------------------------------------------------------------------------------
    def _inner_client(self) -> httpx2.AsyncClient:
        """The client that reaches spacecal's webhooks (created lazily in server mode)."""
        if self._delivery_client is None:
            self._delivery_client = httpx2.AsyncClient()
            self._own_delivery_client = True
        return self._delivery_client

    def _attach(self, mailbox: Mailbox) -> None:
        def listener(calendar_id: str, resource_id: str, change: str) -> None:
            etag = None
            if change != "deleted":
                try:
                    etag = etag_of(mailbox.resolve(resource_id))
                except GraphError:
                    etag = None
            self.subscriptions.on_change(mailbox.user_id, calendar_id, resource_id, change, etag)

        mailbox.listeners.append(listener)

    def _build_app(self) -> Any:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        async def on_graph_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, GraphError)
            return graph_error_response(exc, self.clock.now())

        app.add_exception_handler(GraphError, on_graph_error)
        routes = [
            *calendar_routes(self.state),
            *delta_routes(self.state, sync_token_drawer(self.faults)),
            *subscription_routes(self.state, self.subscriptions),
        ]
        app.mount("/v1.0", Router(routes=routes))

        def before_refresh(request: Request, token: str) -> None:
            owner = self.identity.owner_of_refresh_token(token)
            set_call_account(request.scope, owner)
            rule = self.faults.draw(
                FaultKind.REVOKE_REFRESH_TOKEN,
                method=request.method,
                path=request.url.path,
                account=owner,
            )
            if rule is not None:
                self.identity.revoke_refresh_token(token)

        handlers = make_identity_handlers(
            self.identity, self.clock, before_refresh, base_url=self.base_url
        )
        app.add_route("/{tenant}/oauth2/v2.0/authorize", handlers["authorize_get"], ["GET"])
        app.add_route("/{tenant}/oauth2/v2.0/authorize", handlers["authorize_post"], ["POST"])
        app.add_route("/{tenant}/oauth2/v2.0/token", handlers["token"], ["POST"])
        app.add_route(
            "/{tenant}/v2.0/.well-known/openid-configuration", handlers["openid"], ["GET"]
        )
        for path in ("/{tenant}/adminconsent", "/{tenant}/v2.0/adminconsent"):
            app.add_route(path, handlers["admin_consent_get"], ["GET"])
            app.add_route(path, handlers["admin_consent_post"], ["POST"])
        router = control_router(self.core, self, provider="microsoft")
        add_microsoft_control(router, self)
        app.include_router(router)
        self.limiter = ConcurrencyLimiter(app, self.state.account_for_bearer)
        # JSON batching sends each request through everything below it.
        return GraphBatch(
            self.core.wrap(
                self.limiter,
                fault_responder=graph_fault_responder(self.clock),
                account_of=self.state.account_for_bearer,
            )
        )

    # -- URLs ----------------------------------------------------------------------------------
    def urls(self, tenant: str = "common") -> dict[str, str]:
        """The ``name=url`` lines of ``serve()``: graph, login, authorize, token, control."""
        return {
            "graph": f"{self.base_url}/v1.0",
            "login": self.base_url,
            "authorize": f"{self.base_url}/{tenant}/oauth2/v2.0/authorize",
            "token": f"{self.base_url}/{tenant}/oauth2/v2.0/token",
            "control": f"{self.base_url}/_control",
        }

    # -- accounts and tokens (also the shared control API's AccountAdmin) -------------------
    def create_account(
        self,
        email: str,
        display_name: str | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        scopes: str = DEFAULT_SCOPES,
    ) -> dict[str, Any]:
        """A member with a mailbox, consent for ``client_id`` and fresh tokens."""
        if "@" not in email:
            raise ValueError("email must contain @")
        account = self.identity.create_account(email, display_name)
        mailbox = self.state.mailbox_of(account)
        tokens = self.identity.mint(account, client_id, normalise_scopes(scopes))
        return {
            "email": account.email,
            "user_id": account.user_id,
            "tenant_id": account.tenant_id,
            "display_name": account.display_name,
            "default_calendar_id": mailbox.default_calendar.id,
            **tokens,
        }

    def issue_tokens(
        self, email: str, *, client_id: str = DEFAULT_CLIENT_ID, scopes: str = DEFAULT_SCOPES
    ) -> dict[str, Any]:
        account = self.identity.require_account(email)
        return self.identity.mint(account, client_id, normalise_scopes(scopes))

    def control_create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        email = body.get("email")
        if not isinstance(email, str):
            raise ValueError("email is required")
        return self.create_account(
            email,
            body.get("display_name"),
            client_id=str(body.get("client_id") or DEFAULT_CLIENT_ID),
            scopes=str(body.get("scopes") or DEFAULT_SCOPES),
        )

    def control_issue_tokens(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.issue_tokens(
            email,
            client_id=str(body.get("client_id") or DEFAULT_CLIENT_ID),
            scopes=str(body.get("scopes") or DEFAULT_SCOPES),
        )

    def revoke_consent(self, email: str, client_id: str | None = None) -> None:
        self.identity.revoke_consent(email, client_id)

    def invalidate_old_refresh_tokens(self, email: str) -> int:
        return self.identity.invalidate_old_refresh_tokens(email)

    def expire_access_tokens(self, email: str) -> None:
        self.identity.expire_access_tokens(email)

    def mailbox(self, email: str) -> Mailbox:
        return self.state.mailbox_of(self.identity.require_account(email))

    def calendars(self, email: str) -> list[dict[str, Any]]:
        account = self.identity.require_account(email)
        box = self.state.mailbox_of(account)
        return [
            calendar_json(c, account.display_name, account.email) for c in box.calendars.values()
        ]

    # -- sync and subscriptions ------------------------------------------------------------
    def reset_delta(self, email: str, mode: str = "SyncStateNotFound") -> None:
        """Every delta/skip token of the mailbox answers 410 (``mode`` = error code)."""
        self.delta.reset(self.identity.require_account(email).user_id, mode)

    def set_delta_behaviour(
        self,
        *,
        shuffle: bool | None = None,
        replay_rate: float | None = None,
        report_outside_window: bool | None = None,
    ) -> None:
        if shuffle is not None:
            self.delta.shuffle = shuffle
        if replay_rate is not None:
            if not 0.0 <= replay_rate <= 1.0:
                raise ValueError("replay_rate must be within [0, 1]")
            self.delta.replay_rate = replay_rate
        if report_outside_window is not None:
            self.delta.report_outside_window = report_outside_window

    def set_subscription_limits(
        self, *, maximum_minutes: int | None = None, minimum_minutes: int | None = None
    ) -> None:
        if maximum_minutes is not None:
            self.subscriptions.maximum_lifetime = timedelta(minutes=maximum_minutes)
        if minimum_minutes is not None:
            self.subscriptions.minimum_lifetime = timedelta(minutes=minimum_minutes)

    def list_subscriptions(self) -> list[dict[str, Any]]:
        return [s.json() for s in self.subscriptions.live()]

    def trigger_lifecycle(self, subscription_id: str, event: str) -> dict[str, Any]:
        return self.subscriptions.trigger_lifecycle(subscription_id, event)

    def set_concurrency_limit(
        self, limit: int | None = 4, *, hold_seconds: float = 0.0, retry_after: int = 1
    ) -> None:
        """Switch the per-mailbox concurrent-request limit on (``None`` = off)."""
        self.limiter.limit = limit
        self.limiter.hold_seconds = hold_seconds
        self.limiter.retry_after = retry_after

    def notifications(self, account: str | None = None) -> list[DeliveryRecord]:
        return self.deliveries.list(account=account)

    def set_push_client(self, client: httpx2.AsyncClient) -> None:
        """Swap the client that reaches the webhooks (e.g. a test wiring an app late)."""
        self.core.push.set_client(client)
        self._delivery_client = client
        self._own_delivery_client = False

    def set_notification_timeout(self, seconds: float) -> None:
        self._budget.budget = seconds

    def set_validation_timeout(self, seconds: float) -> None:
        self.subscriptions.validation_timeout = seconds

    async def drain(self) -> None:
        """Wait until every pending notification (and retry) is finished."""
        await self.notifier.drain()
        await self._core_drain()

    async def aclose(self) -> None:
        await self.notify_queue.aclose()
        await self.notify_queue.client.aclose()
        await self.core.aclose()
        if self._own_delivery_client and self._delivery_client is not None:
            await self._delivery_client.aclose()

    def now(self) -> datetime:
        return self.clock.now()


def build_server(base_url: str, seed: int = 0) -> MicrosoftEmulator:
    """The emulator as ``spacecal emulate microsoft`` runs it: real clock, real HTTP
    delivery, Graph's real budgets (3 s notifications, 10 s validation) and
    server-grade backoff (1 s doubling up to 60 s, 8 attempts)."""
    return MicrosoftEmulator(
        seed=seed, base_url=base_url, retry_base=1.0, retry_cap=60.0, max_attempts=8
    )
