"""What the portal's handlers share: the application's services (settings, database,
HTTP client, providers, provisioner: web/services.py, built by spacecal.app) plus the
portal's own session codec and templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx2
from fastapi.templating import Jinja2Templates

from spacecal.config import Settings
from spacecal.providers.base import CalendarProvider
from spacecal.providers.registry import availability
from spacecal.sync.accounts.provisioning import StepHook
from spacecal.web.services import ServicesView
from spacecal.web.sessions import SessionCodec

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
class PortalRuntime(ServicesView):
    sessions: SessionCodec

    @property
    def http(self) -> httpx2.AsyncClient:
        return self.services.http

    @property
    def step_hook(self) -> StepHook | None:
        return self.services.step_hook

    @step_hook.setter
    def step_hook(self, hook: StepHook | None) -> None:
        self.services.step_hook = hook

    def provider(self, name: str) -> CalendarProvider:
        return self.services.provider_for(name)

    def use_http(self, client: httpx2.AsyncClient) -> None:
        """Talk to the providers through `client` (tests: the emulators in-process)."""
        self.services.use_http(client)

    def redirect_uri(self, provider: str) -> str:
        return f"{self.settings.effective_public_url()}/portal/connect/{provider}/callback"
