"""Microsoft Graph v1.0 adapter."""

from spacecal.providers.microsoft.provider import SCOPES, MicrosoftProvider
from spacecal.providers.microsoft.text import html_to_text
from spacecal.providers.microsoft.wire import MARKER_PROPERTY_ID, transaction_id_for

__all__ = [
    "MARKER_PROPERTY_ID",
    "SCOPES",
    "MicrosoftProvider",
    "html_to_text",
    "transaction_id_for",
]
