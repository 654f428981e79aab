"""The seeded random source: every random choice an emulator makes goes through it.

Ids, tokens, message-number skips and fault draws all come from one
`random.Random(seed)` per emulator, so a run is reproducible from its seed (given the
same sequence of calls). Not for security: these are emulator secrets.
"""

from __future__ import annotations

import random
import string

BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
URLSAFE = string.ascii_letters + string.digits + "-_"


class EmulatorRandom(random.Random):
    """`random.Random` plus helpers for the identifiers emulators hand out."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.seed_value = seed

    def chars(self, alphabet: str, length: int) -> str:
        return "".join(self.choice(alphabet) for _ in range(length))

    def token(self, length: int = 43) -> str:
        """An opaque URL-safe token (access/refresh tokens, codes, page tokens)."""
        return self.chars(URLSAFE, length)

    def hex(self, length: int = 32) -> str:
        return self.chars("0123456789abcdef", length)

    def base32hex(self, length: int = 26) -> str:
        """Google-style event/calendar ids (characters 0-9 and a-v)."""
        return self.chars(BASE32HEX, length)
