"""Ids placed in provider URL paths: each is exactly one encoded segment.

A calendar, event, subscription or channel id comes from a provider, but also from
stored rows an API user or an administrator can write. `quote(value, safe="")`
alone is not enough: it leaves `.` and `..` intact, and the HTTP client collapses
dot segments, so a calendar id `..` turned `/me/calendars/../calendarView/delta`
into the member's main calendar. So an id is refused, not repaired, when it is
empty, a dot segment (also once percent-decoded, `%2e%2e`), or holds any character
outside the ASCII set provider ids use (letters, digits, `.`, `_`, `@`, `=`, `+`,
`-`): that leaves out `/`, `\\`, `?`, `#`, `%`, `;`, spaces, control characters and
non-ASCII dot look-alikes a provider's server might normalise into a dot. What
passes is percent-encoded whole (`+`, `=`, `@`).
"""

from __future__ import annotations

import string
from urllib.parse import quote, unquote

from spacecal.providers.base import ProviderError

MAX_ID_LENGTH = 2048
# Every id a provider hands out is ASCII from this set: Graph ids are base64url-ish
# (`-`, `_`, `=`; `+` allowed too), Google calendar ids are addresses
# (`x@group.calendar.google.com`), Google event ids base32hex (recurring instances add
# `_`), subscription and channel ids GUIDs or ours. Anything else (`;`, a space,
# non-ASCII dot look-alikes a provider's server might normalise) is refused.
_ALLOWED = frozenset(string.ascii_letters + string.digits + "._@=+-")


class UnsafeId(ProviderError):
    """An id that cannot be one path segment. Permanent: the stored id is wrong (an
    administrator must correct it), so retrying cannot help. The message names what
    kind of id it is, never its value beyond a short, printable prefix."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"unsafe {what}: {reason}", status=0, code="unsafeId")
        self.what = what


def unsafe_reason(value: str) -> str | None:
    """Why `value` cannot be one path segment, or None when it can."""
    if not value:
        return "it is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"it is longer than {MAX_ID_LENGTH} characters"
    if unquote(unquote(value)).strip() in ("", ".", ".."):
        return "it is a dot segment"
    if any(c not in _ALLOWED for c in value):
        return (
            "it holds a character no provider id holds "
            "(only ASCII letters, digits and . _ @ = + - are allowed)"
        )
    return None


def checked(value: str, what: str = "id") -> str:
    """`value` unchanged when it is safe as one segment, else UnsafeId. For ids a
    provider resolves itself as a path (a Graph subscription's `resource`)."""
    if not isinstance(value, str):
        raise UnsafeId(what, "it is not text")
    reason = unsafe_reason(value)
    if reason is not None:
        raise UnsafeId(what, reason)
    return value


def segment(value: str, what: str = "id") -> str:
    """`value` as one percent-encoded path segment, or UnsafeId."""
    return quote(checked(value, what), safe="")


def calendar_segment(value: str) -> str:
    return segment(value, "calendar id")


def event_segment(value: str) -> str:
    return segment(value, "event id")


def subscription_segment(value: str) -> str:
    return segment(value, "subscription id")
