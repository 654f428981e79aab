"""OpeningHours: the stored JSON shape, its errors and its round trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spacecal.domain import OpeningHours
from spacecal.domain.opening_hours import DAY_KEYS


def test_round_trip_fills_missing_days_as_closed() -> None:
    hours = OpeningHours.from_json({"mon": [["08:00", "20:00"]], "sun": []})
    assert hours.to_json() == {
        "mon": [["08:00", "20:00"]],
        "tue": [],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [],
        "sun": [],
    }


def test_none_means_around_the_clock() -> None:
    hours = OpeningHours.from_json(None)
    assert hours.always_open
    assert hours.to_json() is None


def test_touching_intervals_merge_and_24_is_an_end() -> None:
    hours = OpeningHours.from_json({"tue": [["12:00", "24:00"], ["00:00", "12:00"]]})
    assert hours.to_json() is not None
    assert hours.to_json()["tue"] == [["00:00", "24:00"]]  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([["08:00", "20:00"]], "must be an object"),
        ({"monday": [["08:00", "20:00"]]}, "unknown day 'monday'"),
        ({"mon": "08:00-20:00"}, 'opening hours for "mon" must be a list'),
        ({"mon": [["08:00"]]}, "is not a pair"),
        ({"mon": [["8:00", "20:00"]]}, "'8:00' is not a time like \"08:00\""),
        ({"mon": [["08:00", "20:60"]]}, "is not a time like"),
        ({"mon": [["24:00", "24:00"]]}, "is not a valid start time"),
        ({"mon": [["08:00", "24:30"]]}, "is not a valid end time"),
        ({"mon": [["20:00", "08:00"]]}, "20:00-08:00 ends before it starts"),
        ({"mon": [[800, 2000]]}, "is not a time like"),
    ],
)
def test_malformed_shapes_say_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        OpeningHours.from_json(value)
    assert message in str(info.value)


_time = st.integers(min_value=0, max_value=24 * 4).map(lambda q: q * 15)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def _shapes(draw: st.DrawFn) -> dict[str, list[list[str]]]:
    shape: dict[str, list[list[str]]] = {}
    for key in draw(st.lists(st.sampled_from(DAY_KEYS), unique=True)):
        pairs = []
        for _ in range(draw(st.integers(0, 3))):
            a, b = sorted(draw(st.lists(_time, min_size=2, max_size=2, unique=True)))
            pairs.append([_hhmm(a), _hhmm(b)])
        shape[key] = pairs
    return shape


@given(_shapes())
def test_to_json_is_a_fixed_point(shape: dict[str, list[list[str]]]) -> None:
    once = OpeningHours.from_json(shape)
    again = OpeningHours.from_json(once.to_json())
    assert again == once
