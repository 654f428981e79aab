"""What every Google router needs: the store, the shared core and the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from spacecal.emulators.common import EmulatorCore
from spacecal.emulators.google.state import Calendar, Store


@dataclass
class GoogleSettings:
    access_token_ttl: timedelta = timedelta(seconds=3599)
    code_ttl: timedelta = timedelta(minutes=10)
    channel_default_ttl: timedelta = timedelta(seconds=604800)
    # Google's hard maximum is unsettled (providers.md); clients must use the
    # returned expiration. 30 days here.
    channel_max_ttl: timedelta = timedelta(days=30)
    # Send the `sync` notification before answering the watch call (Google may).
    sync_before_watch_response: bool = False


@dataclass
class GoogleContext:
    store: Store
    core: EmulatorCore
    base_url: str
    settings: GoogleSettings
    # Called after every change to a calendar's events (push notifications).
    on_change: Callable[[Calendar], None] = field(default=lambda _cal: None)

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/calendar/v3"
