"""Every record type the API serves: the ones declared in records/ and the WebHook
record of outbound/ (which sits above records/, so records/ cannot list it)."""

from __future__ import annotations

from spacecal.outbound.record import WEBHOOKS
from spacecal.records.definitions import RECORDS

ALL_RECORDS = (
    *RECORDS,
    WEBHOOKS,  # /api/sys/webhooks (spacecal.outbound)
)
