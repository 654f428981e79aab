"""What sync jobs share in one process: settings, the database and the providers.

Tests build one with adapters whose HTTP clients reach the emulators in-process;
`spacecal serve` / `spacecal worker` build one with real clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from spacecal.config import Settings
from spacecal.db.engine import Database
from spacecal.providers.base import CalendarProvider
from spacecal.sync.pacing import AccountPacer
from spacecal.sync.tokens import AccountTokens


@dataclass
class SyncRuntime:
    settings: Settings
    db: Database
    provider_for: Callable[[str], CalendarProvider]

    def tokens(self, provider: str, account_id: int) -> AccountTokens:
        return AccountTokens(
            self.db.engine,
            self.db.cipher,
            self.provider_for(provider),
            account_id,
            margin_seconds=self.settings.token_refresh_margin_seconds,
            read_only_seconds=self.settings.account_read_only_seconds,
            pacer=AccountPacer(self.db.engine, self.settings, provider, account_id),
        )
