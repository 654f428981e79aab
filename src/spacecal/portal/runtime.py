"""What the portal's handlers share: the application's services (settings, database,
HTTP client, providers, provisioner: web/services.py, built by spacecal.app) plus the
portal's own session codec and templates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx2
from fastapi.templating import Jinja2Templates

from spacecal.config import Settings
from spacecal.domain.account_messages import AdminConsentHelp, admin_consent_help
from spacecal.providers.base import CalendarProvider
from spacecal.providers.registry import availability
from spacecal.sync.accounts.provisioning import StepHook
from spacecal.web.services import ServicesView
from spacecal.web.sessions import SessionCodec

APP_NAME = "spacecal"
# The delegated permissions an administrator approves, as Entra's consent page names them.
ADMIN_PERMISSIONS = ("Calendars.ReadWrite", "User.Read", "offline_access", "openid", "email")
PROVIDERS = ("google", "microsoft", "caldav")
PROVIDER_LABELS = {
    "google": "Google Calendar",
    "microsoft": "Microsoft 365",
    "caldav": "Apple iCloud and other calendars (CalDAV)",
}
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def missing_settings(settings: Settings, provider: str) -> list[str]:
    """The settings a provider still needs before members can connect it."""
    for item in availability(settings):
        if item.name == provider:
            return list(item.missing)
    return []


def admin_help(rt: PortalRuntime, provider: str) -> AdminConsentHelp | None:
    """What to ask an organisation's IT team for, when `provider` has an admin step."""
    url = rt.provider(provider).admin_consent_url(rt.redirect_uri(provider))
    if url is None:
        return None
    client_id = getattr(rt.settings, f"{provider}_client_id") or ""
    return admin_consent_help(
        PROVIDER_LABELS[provider], APP_NAME, client_id, list(ADMIN_PERMISSIONS), url
    )


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
