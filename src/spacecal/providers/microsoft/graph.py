"""`GraphClient`: what every Microsoft Graph call shares: the settings read once, the
per-mailbox gate, error classification, paging, and the rule that a link Graph returns
is followed only on the configured Graph base (the access token goes nowhere else).

The parts of the adapter (`subscriptions.py`, `delta.py`, `provider.py`) build on it,
so each holds one concern and none repeats the plumbing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2

from spacecal import metrics
from spacecal.config import Settings
from spacecal.providers.base import ProviderError
from spacecal.providers.gate import GATES
from spacecal.providers.http import classify, json_body, parse_retry_after, send
from spacecal.providers.microsoft.wire import error_of
from spacecal.providers.pacing import take_place


def graph_time(moment: datetime) -> str:
    """UTC, whole seconds, `Z` (Graph accepts fractions too; none are needed)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GraphClient:
    """Microsoft Graph v1.0 calls on one httpx2 client, under the provider's gate."""

    def __init__(self, settings: Settings, client: httpx2.AsyncClient) -> None:
        if not settings.microsoft_client_id or not settings.microsoft_client_secret:
            raise ValueError(
                "Set SPACECAL_MICROSOFT_CLIENT_ID and SPACECAL_MICROSOFT_CLIENT_SECRET "
                "to offer Microsoft 365"
            )
        self._client_id = settings.microsoft_client_id
        self._client_secret = settings.microsoft_client_secret
        self._login_base = settings.microsoft_login_base
        self._tenant = settings.microsoft_tenant
        login = f"{settings.microsoft_login_base.rstrip('/')}/{settings.microsoft_tenant}"
        self._authorize_url = f"{login}/oauth2/v2.0/authorize"
        self._token_url = f"{login}/oauth2/v2.0/token"
        self._graph = settings.microsoft_graph_base.rstrip("/")
        self._page_size = settings.microsoft_page_size
        self._max_lifetime = timedelta(minutes=settings.microsoft_subscription_max_minutes)
        self._http = client
        self._concurrency = settings.microsoft_concurrent_requests

    async def _call(
        self,
        method: str,
        url: str,
        access: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        sync: bool = False,
    ) -> dict[str, Any]:
        full = url if url.startswith(("http://", "https://")) else self._graph + url
        # The mailbox's rate is paced in PostgreSQL for every process (sync/pacing.py);
        # its 4 concurrent requests here, per process, and by the jobs' account lock.
        await take_place()
        async with GATES.slot("microsoft", access, concurrency=self._concurrency):
            response = await send(
                self._http,
                method,
                full,
                access=access,
                params=params,
                json_data=body,
                headers=headers,
            )
        if response.is_success:
            return json_body(response)
        code, message = error_of(response)
        metrics.provider_error("microsoft", response.status_code)
        raise classify(
            status=response.status_code,
            code=code,
            message=message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            sync=sync,
        )

    async def _pages(self, url: str, access: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        while next_url:
            body = await self._call("GET", next_url, access)
            items.extend(body.get("value") or [])
            next_url = self._own_link(body.get("@odata.nextLink"))
        return items

    def _own_link(self, link: object) -> str | None:
        """A nextLink/deltaLink, only if it points at our Graph base: the access token
        must never be sent to another host."""
        if link is None:
            return None
        if not isinstance(link, str) or not link.startswith(self._graph + "/"):
            raise ProviderError("Graph returned a link outside the configured Graph base")
        return link
