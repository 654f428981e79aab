"""Google Calendar v3 adapter."""

from spacecal.providers.google.provider import SCOPES, GoogleProvider
from spacecal.providers.google.wire import MARKER_PROPERTY, event_id_for

__all__ = ["MARKER_PROPERTY", "SCOPES", "GoogleProvider", "event_id_for"]
