"""`GoogleEmulator`: Google Calendar v3 + Google OAuth, in memory, one ASGI app.

Paths relative to `base_url`: Calendar API `/calendar/v3/...`; authorize
`/o/oauth2/v2/auth`; token `/token`; revoke `/revoke`; userinfo `/oauth2/v3/userinfo`;
control `/_control/...`.

Unless `clients` is given, one permissive OAuth client is registered:
`DEFAULT_CLIENT_ID` / `DEFAULT_CLIENT_SECRET`, any redirect URI.

The Python methods mirror the control API. Member actions take the calendar id
(an account's primary calendar id is its email) and behave like edits made in
Google Calendar's own UI: new etags, change numbers, push notifications.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import httpx2
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp

from spacecal.emulators.common import (
    EmulatorClock,
    EmulatorCore,
    FaultKind,
    FaultPlan,
    FaultRule,
    control_router,
)
from spacecal.emulators.google import auth, errors, listing, ops, watch
from spacecal.emulators.google.api import api_router, calendar_json
from spacecal.emulators.google.batch import GoogleBatch
from spacecal.emulators.google.context import GoogleContext, GoogleSettings
from spacecal.emulators.google.control import add_google_control
from spacecal.emulators.google.limits import UsageLimits
from spacecal.emulators.google.oauth import ensure_account, oauth_router
from spacecal.emulators.google.state import Calendar, OAuthClient, Store
from spacecal.emulators.google.times import parse_rfc3339, zone_of

DEFAULT_CLIENT_ID = "spacecal-emulator.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "spacecal-emulator-secret"  # noqa: S105 (a public emulator default)


def _fault_response(rule: FaultRule) -> Response:
    if rule.kind is FaultKind.HTTP_429:
        return errors.rate_limited(429, int(rule.params.get("retry_after", 1))).response()
    if rule.kind is FaultKind.HTTP_403_RATE_LIMIT:
        err = errors.rate_limited(403)
        err.reason = str(rule.params.get("reason", "rateLimitExceeded"))
        return err.response()
    return errors.backend_error(int(rule.params.get("status", 500))).response()


def _handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.GoogleApiError)
    return exc.response()


class GoogleEmulator:
    def __init__(
        self,
        seed: int = 0,
        base_url: str = "http://google.emulator.test",
        push_client: httpx2.AsyncClient | None = None,
        clock: EmulatorClock | None = None,
        *,
        clients: Iterable[OAuthClient] | None = None,
        settings: GoogleSettings | None = None,
        push_retry_base: float = 0.02,
        push_retry_cap: float = 1.0,
        push_max_attempts: int = 5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.core = EmulatorCore(
            seed=seed,
            clock=clock,
            push_client=push_client,
            push_retry_base=push_retry_base,
            push_retry_cap=push_retry_cap,
            push_max_attempts=push_max_attempts,
        )
        self.store = Store()
        self.ctx = GoogleContext(
            store=self.store,
            core=self.core,
            base_url=self.base_url,
            settings=settings or GoogleSettings(),
        )
        self.ctx.on_change = lambda cal: watch.notify_change(self.ctx, cal)
        for client in (
            clients
            if clients is not None
            else [OAuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ["*"])]
        ):
            self.store.clients[client.client_id] = client
        self.app: ASGIApp = self._build_app()

    # -- wiring ---------------------------------------------------------------

    def _build_app(self) -> ASGIApp:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        app.add_exception_handler(errors.GoogleApiError, _handle_api_error)
        app.include_router(oauth_router(self.ctx))
        app.include_router(api_router(self.ctx))
        control = control_router(self.core, self, provider="google")
        add_google_control(control, self)
        app.include_router(control)
        self.limits = UsageLimits(
            app, lambda headers: auth.token_account(self.ctx, headers), self.core.clock.now
        )
        # The batch endpoint sends each inner call through everything below it.
        return GoogleBatch(
            self.core.wrap(
                self.limits,
                fault_responder=_fault_response,
                account_of=lambda headers: auth.token_account(self.ctx, headers),
            )
        )

    @property
    def clock(self) -> EmulatorClock:
        return self.core.clock

    @property
    def faults(self) -> FaultPlan:
        return self.core.faults

    def urls(self) -> dict[str, str]:
        """Every base URL a client needs, by name."""
        return {
            "api": f"{self.base_url}/calendar/v3",
            "authorize": f"{self.base_url}/o/oauth2/v2/auth",
            "token": f"{self.base_url}/token",
            "revoke": f"{self.base_url}/revoke",
            "control": f"{self.base_url}/_control",
        }

    async def drain(self) -> None:
        """Wait until every pending push delivery (with retries) is finished."""
        await self.core.drain()

    async def aclose(self) -> None:
        await self.core.aclose()

    # -- OAuth and accounts -----------------------------------------------------

    def register_client(
        self, client_id: str, client_secret: str, redirect_uris: Iterable[str] = ("*",)
    ) -> OAuthClient:
        client = OAuthClient(client_id, client_secret, list(redirect_uris))
        self.store.clients[client_id] = client
        return client

    def create_account(
        self,
        email: str,
        *,
        name: str | None = None,
        time_zone: str = "UTC",
        client_id: str | None = None,
        scopes: Iterable[str] | str | None = None,
    ) -> dict[str, Any]:
        """Create an account with its primary calendar, and tokens as if consented.

        Tokens are issued for `client_id` (default: the first registered client)
        with `scopes` (default: openid email calendar.app.created), offline access.
        """
        email = email.strip().lower()
        if "@" not in email:
            raise ValueError("an email address is required")
        zone_of(time_zone)
        account = ensure_account(self.ctx, email, name, time_zone)
        out: dict[str, Any] = {"email": email, "sub": account.sub, "primary_calendar": email}
        if self.store.clients:
            out.update(self.issue_tokens(email, client_id=client_id, scopes=scopes))
        return out

    def issue_tokens(
        self,
        email: str,
        *,
        client_id: str | None = None,
        scopes: Iterable[str] | str | None = None,
    ) -> dict[str, Any]:
        """A fresh grant for `email` (no browser): access + refresh (+ id) token."""
        account = self.store.accounts[email.strip().lower()]
        if client_id is None:
            client_id = next(iter(self.store.clients))
        if client_id not in self.store.clients:
            raise ValueError(f"unknown client {client_id}")
        granted = auth.normalise_scopes(
            " ".join(scopes) if scopes is not None and not isinstance(scopes, str) else scopes
        )
        grant = auth.new_grant(self.ctx, account.email, client_id, granted or auth.DEFAULT_SCOPES)
        body = auth.issue_access_token(self.ctx, grant)
        body["refresh_token"] = auth.issue_refresh_token(self.ctx, grant)
        if "openid" in grant.scopes:
            body["id_token"] = auth.id_token(self.ctx, account, client_id, None)
        body["client_id"] = client_id
        return body

    def revoke_consent(self, email: str, client_id: str | None = None) -> int:
        """The member removes the app's access: every grant dies (tokens answer 401 /
        invalid_grant). Returns how many grants were revoked."""
        return auth.revoke_account(self.ctx, email.strip().lower(), client_id)

    def control_create_account(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.create_account(
            str(body.get("email", "")),
            name=body.get("name"),
            time_zone=str(body.get("time_zone") or "UTC"),
            client_id=body.get("client_id"),
            scopes=body.get("scopes"),
        )

    def control_issue_tokens(self, email: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.issue_tokens(email, client_id=body.get("client_id"), scopes=body.get("scopes"))

    # -- calendars --------------------------------------------------------------

    def _calendar(self, calendar_id: str) -> Calendar:
        cal = self.store.calendars.get(calendar_id)
        if cal is None or cal.deleted:
            raise errors.not_found()
        return cal

    def calendars(self, email: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                **calendar_json(cal),
                "owner": cal.owner,
                "created_by_client": cal.created_by_client,
                "push_supported": cal.push_supported,
                "deleted": cal.deleted,
            }
            for cal in self.store.calendars.values()
            if email is None or cal.owner == email
        ]

    def set_push_supported(self, calendar_id: str, supported: bool) -> None:
        """Mark a calendar so events.watch answers pushNotSupportedForRequestedResource."""
        self._calendar(calendar_id).push_supported = supported

    def expire_sync_tokens(self, calendar_id: str | None = None) -> int:
        """Invalidate sync tokens; their next use answers 410 fullSyncRequired."""
        return listing.expire_tokens(self.ctx, calendar_id)

    def lose_channels(self, calendar_id: str) -> int:
        """Google drops the calendar's channels without telling anyone (no notification
        says so): nothing more is pushed, and a later stop answers 404. Returns how many
        live channels were lost."""
        lost = 0
        for channel in self.store.channels.values():
            if channel.calendar_id == calendar_id and not channel.stopped:
                channel.stopped = True
                lost += 1
        return lost

    def channels(self, calendar_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "id": ch.id,
                "resourceId": ch.resource_id,
                "calendar_id": ch.calendar_id,
                "account": ch.account,
                "address": ch.address,
                "token": ch.token,
                "expiration": ch.expiration.isoformat(),
                "stopped": ch.stopped,
                "live": watch.live(self.ctx, ch, self.clock.now()),
            }
            for ch in self.store.channels.values()
            if calendar_id is None or ch.calendar_id == calendar_id
        ]

    # -- acting as the member ---------------------------------------------------

    def create_event(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """The member creates an event (a series when `body` has `recurrence`)."""
        cal = self._calendar(calendar_id)
        ev = ops.insert_event(self.ctx, cal, body)
        return ops.get_event(self.ctx, cal, ev.id)

    def create_recurring_event(
        self, calendar_id: str, body: dict[str, Any], rules: str | list[str]
    ) -> dict[str, Any]:
        return self.create_event(
            calendar_id, {**body, "recurrence": [rules] if isinstance(rules, str) else rules}
        )

    def update_event(
        self, calendar_id: str, event_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """The member edits or moves an event, a whole series, or one instance (by its
        instance id), with PATCH semantics."""
        return ops.write_event(
            self.ctx, self._calendar(calendar_id), event_id, patch, replace=False
        )

    def move_event(
        self, calendar_id: str, event_id: str, start: dict[str, Any], end: dict[str, Any]
    ) -> dict[str, Any]:
        return self.update_event(calendar_id, event_id, {"start": start, "end": end})

    def edit_series(
        self, calendar_id: str, series_id: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return self.update_event(calendar_id, series_id, patch)

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        """The member deletes an event, a whole series, or one instance (cancels it)."""
        ops.delete_event(self.ctx, self._calendar(calendar_id), event_id)

    def cancel_instance(
        self, calendar_id: str, series_id: str, original_start: str | datetime | date
    ) -> dict[str, Any]:
        instance = self.instance_id(series_id, original_start)
        self.delete_event(calendar_id, instance)
        return ops.get_event(self.ctx, self._calendar(calendar_id), instance)

    def edit_instance(
        self,
        calendar_id: str,
        series_id: str,
        original_start: str | datetime | date,
        patch: dict[str, Any],
    ) -> dict[str, Any]:
        return self.update_event(calendar_id, self.instance_id(series_id, original_start), patch)

    def move_instance(
        self,
        calendar_id: str,
        series_id: str,
        original_start: str | datetime | date,
        start: dict[str, Any],
        end: dict[str, Any],
    ) -> dict[str, Any]:
        return self.edit_instance(
            calendar_id, series_id, original_start, {"start": start, "end": end}
        )

    @staticmethod
    def instance_id(series_id: str, original_start: str | datetime | date) -> str:
        """`<seriesId>_<YYYYMMDDTHHMMSSZ>` (timed) or `<seriesId>_<YYYYMMDD>` (all-day).

        `original_start` may be an aware datetime, a date, an instance key, or an
        RFC 3339 string / ISO date.
        """
        if isinstance(original_start, datetime):
            if original_start.tzinfo is None:
                raise ValueError("original_start must be timezone-aware")
            return f"{series_id}_{original_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        if isinstance(original_start, date):
            return f"{series_id}_{original_start:%Y%m%d}"
        text = original_start.strip()
        if len(text) in (8, 16) and text[:8].isdigit():
            return f"{series_id}_{text}"
        if len(text) == 10:
            return f"{series_id}_{date.fromisoformat(text):%Y%m%d}"
        return f"{series_id}_{parse_rfc3339(text):%Y%m%dT%H%M%SZ}"

    # -- logs ---------------------------------------------------------------------

    def calls(self, account: str | None = None) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.core.calls.list(account=account)]

    def deliveries(
        self, account: str | None = None, channel: str | None = None
    ) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.core.deliveries.list(account=account, channel=channel)]


def build_server(base_url: str, seed: int = 0) -> GoogleEmulator:
    """The emulator as `spacecal emulate google` runs it: real clock, real HTTP push
    with server-grade backoff (1 s doubling up to 60 s, 8 attempts)."""
    return GoogleEmulator(
        seed=seed,
        base_url=base_url,
        push_retry_base=1.0,
        push_retry_cap=60.0,
        push_max_attempts=8,
    )
