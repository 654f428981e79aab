"""Graph ``dateTimeTimeZone`` values, Windows zone names and ``Prefer: outlook.timezone``.

Graph answers in UTC unless the request carries ``Prefer: outlook.timezone="<zone>"``,
and accepts both Windows zone names ("W. Europe Standard Time") and IANA names on
input. The table below maps the ~40 most used Windows zones to IANA (from CLDR's
windowsZones "001" territory); anything else must be an IANA name or input fails with
400 ``TimeZoneNotSupportedException``-like error (raised by the caller). Output echoes
the zone name the client asked for, as Graph does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WINDOWS_TO_IANA: dict[str, str] = {
    "UTC": "UTC",
    "Coordinated Universal Time": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "Romance Standard Time": "Europe/Paris",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Egypt Standard Time": "Africa/Cairo",
    "Arabian Standard Time": "Asia/Dubai",
    "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "W. Australia Standard Time": "Australia/Perth",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "Pacific SA Standard Time": "America/Santiago",
}


class UnknownTimeZone(ValueError):
    """The zone is neither a known Windows name nor an IANA name."""


def resolve_zone(name: str) -> ZoneInfo:
    """Map a Windows or IANA zone name to a ``ZoneInfo``."""
    iana = WINDOWS_TO_IANA.get(name.strip(), name.strip())
    try:
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UnknownTimeZone(name) from exc


def parse_date_time_time_zone(value: object) -> datetime:
    """Read a Graph ``dateTimeTimeZone`` object into an aware UTC datetime.

    ``dateTime`` is a local wall time in ``timeZone`` (an offset or ``Z`` in the string
    wins, as Graph tolerates both). Fractional seconds up to 7 digits are accepted.
    """
    if not isinstance(value, dict):
        raise ValueError("dateTimeTimeZone must be an object")
    raw = value.get("dateTime")
    zone_name = value.get("timeZone") or "UTC"
    if not isinstance(raw, str) or not isinstance(zone_name, str):
        raise ValueError("dateTime and timeZone must be strings")
    text = raw.strip()
    if "." in text:
        head, _, frac = text.partition(".")
        digits = "".join(ch for ch in frac if ch.isdigit())
        rest = frac[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=resolve_zone(zone_name))
    return parsed.astimezone(UTC)


def format_date_time_time_zone(moment: datetime, zone_name: str) -> dict[str, str]:
    """Render an aware datetime as Graph does: 7 fractional digits, no offset."""
    local = moment.astimezone(resolve_zone(zone_name))
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"
    return {"dateTime": text, "timeZone": zone_name}


def format_utc(moment: datetime) -> str:
    """``lastModifiedDateTime``-style UTC timestamp with 7 fractional digits and Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond:06d}0Z"


def preferred_zone(prefer_header: str | None) -> str:
    """Zone named by ``Prefer: outlook.timezone="..."``; ``UTC`` when absent or unknown."""
    for part in _prefer_parts(prefer_header):
        key, _, val = part.partition("=")
        if key.strip().lower() == "outlook.timezone":
            name = val.strip().strip('"')
            try:
                resolve_zone(name)
            except UnknownTimeZone:
                return "UTC"
            return name
    return "UTC"


def preferred_page_size(prefer_header: str | None) -> int | None:
    """``Prefer: odata.maxpagesize=N``, if present and a positive integer."""
    for part in _prefer_parts(prefer_header):
        key, _, val = part.partition("=")
        if key.strip().lower() == "odata.maxpagesize":
            try:
                size = int(val.strip().strip('"'))
            except ValueError:
                return None
            return size if size > 0 else None
    return None


def _prefer_parts(prefer_header: str | None) -> list[str]:
    if not prefer_header:
        return []
    return [p for p in prefer_header.replace(";", ",").split(",") if p.strip()]
