"""The words a member reads on the portal about what their provider account allows:
an organisation that lets only administrators approve apps, and (later) a provider's
limits on the account. Plain values in, sentences out; the portal only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from spacecal.domain.messages import day_label

LABELS = {
    "google": "Google Calendar",
    "microsoft": "Microsoft 365",
    "caldav": "your calendar server",
}


def _when(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{day_label(local.date())} {local.hour:02d}:{local.minute:02d}"


@dataclass(frozen=True)
class AdminConsentHelp:
    """What to tell a member whose organisation requires an administrator's approval."""

    summary: str
    request: str  # the text to forward to the IT team, the URL included
    url: str
    after: str


def admin_consent_help(
    provider_label: str, app_name: str, client_id: str, permissions: list[str], url: str
) -> AdminConsentHelp:
    listed = ", ".join(permissions)
    return AdminConsentHelp(
        summary=(
            f"Your organisation lets only its administrators approve apps for "
            f"{provider_label}, so nothing was connected. Ask your IT team to approve "
            f"{app_name} for the whole organisation; the request below says exactly what."
        ),
        request=(
            f"Please grant tenant-wide admin consent to the app {app_name} "
            f"(application ID {client_id}) for these delegated permissions: {listed}. "
            f"It lets each member keep booking calendars in their own mailbox in step with "
            f"our coworking space. A Global Administrator, Application Administrator or "
            f"Cloud Application Administrator can approve it by opening this link, signing "
            f"in and accepting: {url}"
        ),
        url=url,
        after=f"Once they have approved it, press Connect {provider_label} again.",
    )


def admin_consent_given(app_name: str) -> str:
    """What the administrator reads after approving, back on spacecal's portal."""
    return (
        f"{app_name} is approved for your organisation. Members can now connect their "
        "calendars from this portal's Integrations page."
    )


def setup_waiting(
    provider: str, resource: str, until: datetime, zone: ZoneInfo, *, paused: bool
) -> str:
    """A calendar whose set-up waits for the account's limits; it resumes by itself."""
    label = LABELS.get(provider, provider)
    when = _when(until, zone)
    if paused:
        return (
            f"{resource}: waiting. {label} has made your calendars read-only for a while "
            f"(too many calendars were created in a short time), so spacecal changes "
            f"nothing in your account until {when} and then sets this calendar up by "
            "itself. Your bookings are kept."
        )
    return (
        f"{resource}: queued. {label} limits how fast an account's calendars can be set "
        "up, so spacecal adds them a few at a time; this one is set up by itself from "
        f"{when}. Nothing to do meanwhile."
    )


def account_read_only(provider: str, until: datetime, zone: ZoneInfo) -> str:
    """The provider keeps the member's whole account read-only (usage limits)."""
    label = LABELS.get(provider, provider)
    return (
        f"{label} has made your calendars read-only until about {_when(until, zone)}, "
        "because many calendars were created in a short time. spacecal still reads your "
        "calendars and books what you add, and writes everything it owes them (bookings, "
        "notes, new calendars) once the limit ends. Nothing is lost; nothing to do."
    )
