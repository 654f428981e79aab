"""spacecal's own marks on a member's event, and how to take them off again.

A refused new event keeps its place in the calendar and gets a title prefix
("⚠ Not booked: Team sync") plus a first description line starting with
`MARK_LINE_PREFIX`. A refused move is put back with a note line of the same kind.
Both are fixed, recognisable strings, so a later pull can strip them before
comparing: our own mark is never mistaken for the member's edit, and marks never
pile up ("⚠ Not booked: ⚠ Not booked: ..."). The provider adapters work in plain
text; an adapter that stores HTML bodies (Graph) converts before calling these.
"""

from __future__ import annotations

from dataclasses import dataclass

TITLE_PREFIX = "⚠ Not booked: "
MARK_LINE_PREFIX = "[spacecal] "


@dataclass(frozen=True)
class EventText:
    """The two member-visible text fields spacecal writes."""

    title: str
    description: str


def strip_mark(title: str, description: str) -> EventText:
    """The member's own title and description, without any spacecal mark or note."""
    clean_title = title
    bare_prefix = TITLE_PREFIX.rstrip()
    while True:
        if clean_title.startswith(TITLE_PREFIX):
            clean_title = clean_title[len(TITLE_PREFIX) :]
        elif clean_title.rstrip() == bare_prefix:
            # A provider trimmed "⚠ Not booked: " on an event that had no title.
            clean_title = ""
        else:
            break
    lines = description.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    skip_blank = False
    for line in lines:
        if line.startswith(MARK_LINE_PREFIX):
            skip_blank = True
            continue
        if skip_blank and line.strip() == "":
            skip_blank = False
            continue
        skip_blank = False
        kept.append(line)
    clean_description = "\n".join(kept)
    if clean_description.strip() == "":
        clean_description = ""
    return EventText(clean_title, clean_description)


def carries_mark(title: str, description: str) -> bool:
    """Whether the event shows any spacecal mark or note."""
    return strip_mark(title, description) != EventText(title, description)


def _with_line(line: str, description: str) -> str:
    return f"{MARK_LINE_PREFIX}{line}" + (f"\n\n{description}" if description else "")


def mark_refused(title: str, description: str, message: str) -> EventText:
    """Text for a refused new event: prefixed title, the refusal as first line."""
    own = strip_mark(title, description)
    return EventText(TITLE_PREFIX + own.title, _with_line(message, own.description))


def with_note(title: str, description: str, note: str) -> EventText:
    """Text for an event put back after a refused move: own title, note first."""
    own = strip_mark(title, description)
    return EventText(own.title, _with_line(note, own.description))
