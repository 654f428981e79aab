"""Which providers spacecal offers, and building one by name.

A provider is offered only when its OAuth client is configured; otherwise the portal
shows `missing_settings_message` ("Set SPACECAL_GOOGLE_CLIENT_ID and ... to offer
Google Calendar") instead of a connect button that cannot work. CalDAV needs no
client: the member brings the server, username and app password.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx2

from spacecal.config import Settings
from spacecal.providers.base import CalendarProvider, Capabilities, ProviderName
from spacecal.providers.caldav import CalDavProvider
from spacecal.providers.google import GoogleProvider
from spacecal.providers.microsoft import MicrosoftProvider

PROVIDER_NAMES: tuple[ProviderName, ...] = ("google", "microsoft", "caldav")
LABELS: dict[ProviderName, str] = {
    "google": "Google Calendar",
    "microsoft": "Microsoft 365",
    "caldav": "CalDAV calendar",
}
_CAPABILITIES: dict[str, Capabilities] = {
    "google": GoogleProvider.capabilities,
    "microsoft": MicrosoftProvider.capabilities,
    "caldav": CalDavProvider.capabilities,
}


def capabilities(name: str) -> Capabilities:
    """What provider `name` can do, without building an adapter (sync reads it for
    rows whose provider is only a name)."""
    return _CAPABILITIES[name]


def providers_where(wanted: Callable[[Capabilities], bool]) -> tuple[str, ...]:
    """The providers whose capabilities satisfy `wanted`, for SQL filters."""
    return tuple(name for name, caps in _CAPABILITIES.items() if wanted(caps))


@dataclass(frozen=True)
class ProviderAvailability:
    """Whether a provider can be offered; `message` says what to set when it cannot."""

    name: ProviderName
    label: str
    configured: bool
    missing: tuple[str, ...] = ()

    @property
    def message(self) -> str | None:
        if self.configured:
            return None
        return f"Set {' and '.join(self.missing)} to offer {self.label}"


def _missing(name: ProviderName, settings: Settings) -> tuple[str, ...]:
    if name == "caldav":
        return ()  # nothing to configure: each member brings their server
    if name == "google":
        pairs = {
            "SPACECAL_GOOGLE_CLIENT_ID": settings.google_client_id,
            "SPACECAL_GOOGLE_CLIENT_SECRET": settings.google_client_secret,
        }
    else:
        pairs = {
            "SPACECAL_MICROSOFT_CLIENT_ID": settings.microsoft_client_id,
            "SPACECAL_MICROSOFT_CLIENT_SECRET": settings.microsoft_client_secret,
        }
    return tuple(var for var, value in pairs.items() if not value)


def availability(settings: Settings) -> list[ProviderAvailability]:
    """Every provider with whether it is configured and, if not, what is missing."""
    out = []
    for name in PROVIDER_NAMES:
        missing = _missing(name, settings)
        out.append(ProviderAvailability(name, LABELS[name], not missing, missing))
    return out


def configured_providers(settings: Settings) -> list[ProviderName]:
    """The providers spacecal can offer with these settings."""
    return [a.name for a in availability(settings) if a.configured]


def missing_settings_message(name: ProviderName, settings: Settings) -> str | None:
    """Why `name` is not offered (None when it is)."""
    missing = _missing(name, settings)
    if not missing:
        return None
    return ProviderAvailability(name, LABELS[name], False, missing).message


def build_provider(
    name: ProviderName | str, settings: Settings, client: httpx2.AsyncClient
) -> CalendarProvider:
    """The adapter for `name`. ValueError (with the missing settings named) when the
    provider is unknown or not configured."""
    if name == "google":
        if message := missing_settings_message("google", settings):
            raise ValueError(message)
        return GoogleProvider(settings, client)
    if name == "microsoft":
        if message := missing_settings_message("microsoft", settings):
            raise ValueError(message)
        return MicrosoftProvider(settings, client)
    if name == "caldav":
        # Its own guarded client (outbound guard, CA file, no redirects by httpx):
        # the member typed the address (docs/caldav.md).
        return CalDavProvider(settings)
    raise ValueError(f"unknown provider {name!r}; known: {', '.join(PROVIDER_NAMES)}")


class ProviderCache:
    """The adapters of one process, built on first use over one HTTP client: called
    with a provider's name, it answers that provider's adapter (CalendarProvider)."""

    def __init__(self, settings: Settings, client: httpx2.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self._built: dict[str, CalendarProvider] = {}

    def __call__(self, name: str) -> CalendarProvider:
        adapter = self._built.get(name)
        if adapter is None:
            adapter = build_provider(name, self.settings, self.client)
            self._built[name] = adapter
        return adapter


def production_providers(settings: Settings) -> tuple[ProviderCache, httpx2.AsyncClient]:
    """Adapters over one real HTTP client (the caller closes it), built on first use."""
    client = httpx2.AsyncClient(timeout=settings.provider_timeout_seconds)
    return ProviderCache(settings, client), client
