"""Opaque, realistic-looking identifiers drawn from one seeded RNG.

Graph ids are long base64 strings (``AAMkAG...``); clients must treat them as opaque
and must never parse them. Deriving every id from the emulator's seeded
``random.Random`` makes a whole run (ids, tokens, skip/delta tokens) reproducible from
its seed, which is what lets a failing test be replayed exactly.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid

# Prefixes seen on real Exchange ids: mailbox-scoped entries start with "AAMkA".
_CALENDAR_PREFIX = b"\x00\x00\x32\x40\x06"
_EVENT_PREFIX = b"\x00\x00\x32\x40\x06\x01"


def _b64(raw: bytes) -> str:
    """URL-safe base64 as Graph uses in ids (``-`` and ``_``, ``=`` padding kept)."""
    return base64.urlsafe_b64encode(raw).decode("ascii")


class IdFactory:
    """Every identifier and secret the emulator hands out."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def _bytes(self, n: int) -> bytes:
        return bytes(self._rng.getrandbits(8) for _ in range(n))

    def uuid(self) -> str:
        """A v4-shaped UUID from the seeded RNG (tenant, user, subscription ids)."""
        return str(uuid.UUID(bytes=self._bytes(16), version=4))

    def calendar_id(self) -> str:
        return "AAMkAG" + _b64(_CALENDAR_PREFIX + self._bytes(64))[6:]

    def event_id(self) -> str:
        return "AAMkAG" + _b64(_EVENT_PREFIX + self._bytes(90))[6:]

    def change_key(self) -> str:
        return _b64(b"\x12\x00" + self._bytes(18))

    def token(self, prefix: str, n: int = 48) -> str:
        """An opaque bearer/refresh/code/skip token; the prefix only aids debugging."""
        return prefix + base64.urlsafe_b64encode(self._bytes(n)).decode("ascii").rstrip("=")


def occurrence_id(master_id: str, original_start_iso: str) -> str:
    """Stable id of one instance of a series.

    Real occurrence ids embed the series id and the original start; a client may not
    rely on that, but it must be stable across reads, so it is derived, not random.
    """
    digest = hashlib.sha256(f"{master_id}|{original_start_iso}".encode()).digest()
    return "AAMkAG" + _b64(b"\x07\x00" + digest + digest[:30])[6:]
