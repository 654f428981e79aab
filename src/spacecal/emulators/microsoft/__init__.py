"""Emulator of the Microsoft identity platform v2.0 and Microsoft Graph v1.0 calendars.

Imports nothing from the rest of spacecal (only ``spacecal.emulators.common``). See
``docs/emulators.md`` (Microsoft section) for the rules it follows and the control API.
"""

from spacecal.emulators.microsoft.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SCOPES,
    MicrosoftEmulator,
    build_server,
)

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_SCOPES", "MicrosoftEmulator", "build_server"]
