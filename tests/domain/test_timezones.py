"""Zone names as providers send them, and DST-safe parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacecal.domain import (
    WINDOWS_TO_IANA,
    UnknownTimeZone,
    parse_provider_datetime,
    resolve_time_zone,
)


@pytest.mark.parametrize(
    ("windows", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("GMT Standard Time", "Europe/London"),
        ("Eastern Standard Time", "America/New_York"),
        ("Romance Standard Time", "Europe/Paris"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("India Standard Time", "Asia/Kolkata"),
        ("UTC", "Etc/UTC"),
        ("w. europe standard time", "Europe/Berlin"),
        ("Europe/Lisbon", "Europe/Lisbon"),
        ("tzone://Microsoft/Utc", "Etc/UTC"),
    ],
)
def test_resolve_time_zone(windows: str, iana: str) -> None:
    assert resolve_time_zone(windows) == ZoneInfo(iana)


def test_every_table_entry_exists_in_tzdata() -> None:
    for iana in WINDOWS_TO_IANA.values():
        ZoneInfo(iana)
    assert len(WINDOWS_TO_IANA) > 130


@pytest.mark.parametrize("name", ["Customized Time Zone", "Mars/Olympus", ""])
def test_unknown_zones_raise(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        resolve_time_zone(name)


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        # Graph, 7-digit fraction, Windows zone.
        ("2026-11-23T10:00:00.0000000", "W. Europe Standard Time", "2026-11-23T09:00:00+00:00"),
        ("2026-07-01T10:00:00.0000000", "W. Europe Standard Time", "2026-07-01T08:00:00+00:00"),
        ("2026-11-23T10:00:00.0000000", "UTC", "2026-11-23T10:00:00+00:00"),
        # Google: the offset wins over the zone.
        ("2026-11-23T10:00:00+01:00", "America/New_York", "2026-11-23T09:00:00+00:00"),
        ("2026-11-23T10:00:00Z", None, "2026-11-23T10:00:00+00:00"),
        # Skipped hour (Berlin, 29 Mar 2026 02:00 -> 03:00): read with the offset
        # before the gap, so 02:30 is 01:30 UTC = 03:30 summer time.
        ("2026-03-29T02:30:00", "Europe/Berlin", "2026-03-29T01:30:00+00:00"),
        # Repeated hour (Berlin, 25 Oct 2026 03:00 -> 02:00): the first occurrence.
        ("2026-10-25T02:30:00", "Europe/Berlin", "2026-10-25T00:30:00+00:00"),
        # US spring forward, 8 Mar 2026 02:00 -> 03:00 in New York.
        ("2026-03-08T02:30:00", "Eastern Standard Time", "2026-03-08T07:30:00+00:00"),
    ],
)
def test_parse_provider_datetime(value: str, zone: str | None, expected: str) -> None:
    assert parse_provider_datetime(value, zone) == datetime.fromisoformat(expected)


def test_naive_without_zone_is_an_error() -> None:
    with pytest.raises(ValueError, match="no offset"):
        parse_provider_datetime("2026-11-23T10:00:00")


ZONES = sorted({*WINDOWS_TO_IANA.values(), "Europe/Berlin", "America/Sao_Paulo"})


@settings(max_examples=150, deadline=None)
@given(
    zone_name=st.sampled_from(ZONES),
    instant=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_local_wall_time_round_trips_except_in_gaps(zone_name: str, instant: datetime) -> None:
    """Any instant written as local wall time in any zone parses back to itself,
    unless it is the second pass of a repeated hour (wall time alone cannot say)."""
    zone = ZoneInfo(zone_name)
    local = instant.astimezone(zone)
    parsed = parse_provider_datetime(local.replace(tzinfo=None).isoformat(), zone_name)
    if local.fold == 0:
        assert parsed == instant
    else:
        assert parsed == instant - (local.replace(fold=0).utcoffset() - local.utcoffset())  # type: ignore[operator]
        assert parsed < instant
        assert instant - parsed <= timedelta(hours=1)
