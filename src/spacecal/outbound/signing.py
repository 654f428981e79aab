"""Signatures of outgoing webhook bodies.

- `X-Nexudus-Hook-Signature`: the Nexudus convention, uppercase hex HMAC-SHA256 of the
  exact body bytes. It is the same on every attempt and forever: a captured delivery
  can be replayed and still verifies.
- `X-Spacecal-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 over
  `<t>.<body>`, made when the attempt is sent; a receiver that also checks `t` is
  recent (docs/webhooks.md) refuses a replay older than its tolerance.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Nexudus-Hook-Signature"
TIMESTAMPED_HEADER = "X-Spacecal-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().upper()


def verify(body: bytes, secret: str, signature: str) -> bool:
    """What a receiver does (constant-time compare); used by the tests' receiver."""
    return hmac.compare_digest(sign(body, secret), signature.strip().upper())


def _v1(body: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_timestamped(body: bytes, secret: str, timestamp: int) -> str:
    """The X-Spacecal-Signature value for `body` sent at `timestamp` (Unix seconds)."""
    return f"t={timestamp},v1={_v1(body, secret, timestamp)}"


def verify_timestamped(
    body: bytes,
    secret: str,
    header: str,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does with X-Spacecal-Signature: a well-formed header, a `t`
    within `tolerance` seconds of `now`, and a `v1` that matches (constant time)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or abs(now - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(_v1(body, secret, int(stamp)), given)
