"""The services object: what every part of the running application shares, built once
by the composition root (spacecal.app) and handed to the API, the portal, the console,
the webhook intake and the in-process job worker.

It is the sync runtime (settings, database, providers, tokens: sync/runtime.py) plus
what the web parts add: the HTTP client the provider adapters use, the API's
authenticator and the provisioner. The class lives here, not in app.py, because the
parts that receive it sit below the composition root and must name its type.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from fastapi import Request

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.providers.registry import ProviderCache
from spacecal.sync.accounts.provisioning import Provisioner, StepHook
from spacecal.sync.runtime import SyncRuntime
from spacecal.web.auth import Authenticator, Principal, client_address


@dataclass
class Services(SyncRuntime):
    http: httpx2.AsyncClient
    auth: Authenticator
    # Called after each provisioning step; tests inject a crash with it.
    step_hook: StepHook | None = None

    @classmethod
    def build(cls, settings: Settings, db: Database, http: httpx2.AsyncClient) -> Services:
        """Services whose provider adapters talk through `http` (made on first use)."""
        return cls(
            settings=settings,
            db=db,
            provider_for=ProviderCache(settings, http),
            http=http,
            auth=Authenticator(db.engine, settings),
        )

    def use_http(self, client: httpx2.AsyncClient) -> None:
        """Talk to the providers through `client` (tests: the emulators in-process)."""
        self.http = client
        self.provider_for = ProviderCache(self.settings, client)

    @property
    def provisioner(self) -> Provisioner:
        return Provisioner(self, self.step_hook)


@dataclass
class ServicesView:
    """A web part's runtime: the application's services seen through the names its
    handlers use (`rt.db`, `rt.settings`, ...), plus what the part adds itself."""

    services: Services

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def provisioner(self) -> Provisioner:
        return self.services.provisioner


def services_of(request: Request) -> Services:
    """The running application's services (app.state.services, set by spacecal.app)."""
    services: Services = request.app.state.services
    return services


async def principal_for(request: Request) -> Principal:
    return await services_of(request).auth.authenticate(
        request.headers.get("authorization"), client_address(request)
    )
