"""The Google Calendar v3 + Google OAuth emulator (see `emulator.GoogleEmulator`)."""

from __future__ import annotations

from spacecal.emulators.google.context import GoogleSettings
from spacecal.emulators.google.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    GoogleEmulator,
)
from spacecal.emulators.google.state import OAuthClient

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "GoogleEmulator",
    "GoogleSettings",
    "OAuthClient",
]
