"""Shared fixtures for the domain tests: one business in Berlin, one room."""

from __future__ import annotations

import pytest

from spacecal.domain import BusinessRules, OpeningHours, ResourceRules

WEEKDAY_HOURS = OpeningHours.from_json(
    {
        "mon": [["08:00", "20:00"]],
        "tue": [["08:00", "20:00"]],
        "wed": [["08:00", "12:00"], ["13:00", "20:00"]],
        "thu": [["08:00", "20:00"]],
        "fri": [["08:00", "20:00"]],
        "sat": [["09:00", "13:00"]],
        "sun": [],
    }
)


@pytest.fixture
def business() -> BusinessRules:
    return BusinessRules(name="Riverside", time_zone="Europe/Berlin")


@pytest.fixture
def room() -> ResourceRules:
    return ResourceRules(
        resource_id=1,
        name="Meeting Room A",
        min_booking_minutes=30,
        max_booking_minutes=240,
        opening_hours=WEEKDAY_HOURS,
    )
