"""The Nexudus webhook signature: uppercase hex HMAC-SHA256 of the exact body bytes."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Nexudus-Hook-Signature"


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """What a receiver does (constant-time compare); used by the tests' receiver."""
    return hmac.compare_digest(sign(body, secret), signature.strip().upper())
