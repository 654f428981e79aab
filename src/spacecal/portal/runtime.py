"""What the portal's handlers share: settings, database, templates, the session codec,
the provisioner and the HTTP client the provider adapters use."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from fastapi.templating import Jinja2Templates

from spacecal.api.auth import LoginLimiter
from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.portal.security import SessionCodec
from spacecal.providers.base import CalendarProvider
from spacecal.providers.registry import availability, build_provider
from spacecal.sync.accounts.provisioning import Provisioner, StepHook

PROVIDERS = ("google", "microsoft")
PROVIDER_LABELS = {"google": "Google Calendar", "microsoft": "Microsoft 365"}
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def missing_settings(settings: Settings, provider: str) -> list[str]:
    """The settings a provider still needs before members can connect it."""
    for item in availability(settings):
        if item.name == provider:
            return list(item.missing)
    return []


@dataclass
class PortalRuntime:
    settings: Settings
    db: Database
    http: httpx2.AsyncClient
    sessions: SessionCodec
    limiter: LoginLimiter
    step_hook: StepHook | None = None
    _providers: dict[str, CalendarProvider] = field(default_factory=dict)

    def provider(self, name: str) -> CalendarProvider:
        adapter = self._providers.get(name)
        if adapter is None:
            adapter = build_provider(name, self.settings, self.http)
            self._providers[name] = adapter
        return adapter

    def use_http(self, client: httpx2.AsyncClient) -> None:
        """Talk to the providers through `client` (tests: the emulators in-process)."""
        self.http = client
        self._providers.clear()

    @property
    def provisioner(self) -> Provisioner:
        return Provisioner(
            self.db.engine, self.db.cipher, self.settings, self.provider, self.step_hook
        )

    def redirect_uri(self, provider: str) -> str:
        return f"{self.settings.effective_public_url()}/portal/connect/{provider}/callback"
