"""Placeholder until mail-itip's deciding step is merged (it replaces this module)."""

from __future__ import annotations

from spacecal.mail.message import ReceivedMessage
from spacecal.sync.runtime import SyncRuntime


async def handle_invitation(runtime: SyncRuntime, message: ReceivedMessage) -> str:
    """Decide `message`; returns the outcome label recorded on it."""
    del runtime, message
    return "unprocessed"
