"""spacecal's marks are recognisable, removable and never pile up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacecal.domain import EventText, carries_mark, mark_refused, strip_mark, with_note

MSG = "Not booked: Meeting Room A is taken 10:00–11:00"


def test_mark_text() -> None:
    assert mark_refused("Team sync", "Agenda", MSG) == EventText(
        "⚠ Not booked: Team sync", f"[spacecal] {MSG}\n\nAgenda"
    )
    assert mark_refused("", "", MSG) == EventText("⚠ Not booked: ", f"[spacecal] {MSG}")


@pytest.mark.parametrize(
    ("title", "description", "own"),
    [
        (
            "⚠ Not booked: Team sync",
            f"[spacecal] {MSG}\n\nAgenda",
            EventText("Team sync", "Agenda"),
        ),
        ("⚠ Not booked: ⚠ Not booked: X", "[spacecal] a\r\n\r\n[spacecal] b", EventText("X", "")),
        ("⚠ Not booked:", f"[spacecal] {MSG}", EventText("", "")),
        ("Team sync", "Line 1\n\nLine 2", EventText("Team sync", "Line 1\n\nLine 2")),
    ],
)
def test_strip_mark(title: str, description: str, own: EventText) -> None:
    assert strip_mark(title, description) == own


def test_carries_mark() -> None:
    assert carries_mark("⚠ Not booked: X", "")
    assert carries_mark("X", "[spacecal] Not moved: ...")
    assert not carries_mark("Not booked: lunch", "spacecal rocks")


_text = st.lists(
    st.sampled_from(["a", "b", " ", "⚠", ":", "\n", "\r\n", "⚠ Not booked: ", "[spacecal] "]),
    max_size=12,
).map("".join)


@settings(max_examples=200)
@given(title=_text, description=_text, message=st.sampled_from([MSG, "Not booked: x"]))
def test_marking_is_stable_and_strippable(title: str, description: str, message: str) -> None:
    own = strip_mark(title, description)
    once = mark_refused(title, description, message)
    assert carries_mark(once.title, once.description)
    assert strip_mark(once.title, once.description) == own
    assert mark_refused(once.title, once.description, message) == once
    noted = with_note(title, description, "Not moved: x.")
    assert strip_mark(noted.title, noted.description) == own
    assert strip_mark(own.title, own.description) == own
