"""Reading JSON that arrives from outside (request bodies, webhook payloads, fields
holding JSON text) the strict way: RFC 8259 numbers only.

Python's json module accepts `NaN`, `Infinity` and `-Infinity`, turns `1e309` into
infinity and raises a plain ValueError past 4,300 digits; none of those can be stored
or compared sensibly, and each used to surface as a 500 (issue 17 item 10). Here they
are a `NotANumber` (a ValueError), which callers answer as a 400."""

from __future__ import annotations

import json
import math
from typing import Any

#: Digits an integer may have: far beyond any id or count (int64 has 19), far below
#: the point where converting it costs real time.
MAX_INT_DIGITS = 64


class NotANumber(ValueError):
    """A number JSON does not have (NaN, Infinity), or one too large to hold."""


def _constant(name: str) -> Any:
    raise NotANumber(f"{name} is not a JSON number.")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotANumber(f"the number {text[:40]} is too large.")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NotANumber(f"a whole number may have at most {MAX_INT_DIGITS} digits.")
    return int(text)


def loads(raw: str | bytes) -> Any:
    """json.loads with only finite numbers of sane size; ValueError (a NotANumber for
    the numbers, a JSONDecodeError or UnicodeDecodeError otherwise) when not."""
    return json.loads(raw, parse_constant=_constant, parse_float=_float, parse_int=_int)
