"""CalDAV (RFC 4791, sync by RFC 6578) behind `CalendarProvider`: Apple iCloud,
Fastmail, Nextcloud and any CalDAV server (docs/caldav.md).

`xml.py` the WebDAV bodies and safe parsing, `client.py` the guarded HTTP verbs and
where credentials may go, `discovery.py` connecting an account, `ical.py` iCalendar
<-> events, `events.py` the pull and writes, `provider.py` the adapter.
"""

from spacecal.providers.caldav.client import caldav_http_client
from spacecal.providers.caldav.credentials import (
    CalDavConnectError,
    CalDavCredentials,
    CalendarCreationRefused,
    EditConflict,
)
from spacecal.providers.caldav.discovery import connect_account
from spacecal.providers.caldav.provider import CalDavProvider

__all__ = [
    "CalDavConnectError",
    "CalDavCredentials",
    "CalDavProvider",
    "CalendarCreationRefused",
    "EditConflict",
    "caldav_http_client",
    "connect_account",
]
