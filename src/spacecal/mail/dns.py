"""The one DNS resolver of mail checks (DKIM keys, DMARC policies).

With SPACECAL_DNS_OVERRIDES_FILE set, records come from that file only: a name it
does not list has no records, and no network lookup is ever made (offline installs,
tests). Its format, names matched case-insensitively, with or without the final dot:

    {"sel._domainkey.example.com": {"TXT": ["v=DKIM1; k=rsa; p=MIIB..."]},
     "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject"]}}

Without it, lookups go to the system's resolver through dnspython. Lookups are
blocking; the checks run in a worker thread (mail/auth.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import dns.exception
import dns.resolver

from spacecal.config import Settings


class DnsUnavailable(Exception):
    """A lookup failed for a reason other than "no such record" (timeout, SERVFAIL)."""


class Resolver(Protocol):
    def txt(self, name: str) -> list[str]:
        """The TXT records of `name` (each record's strings joined); [] if none."""
        ...


def _key(name: str) -> str:
    return name.strip().rstrip(".").lower()


class OverridesResolver:
    """Records from the overrides file; nothing else exists."""

    def __init__(self, records: dict[str, dict[str, list[str]]]) -> None:
        self._records = {_key(k): {t.upper(): v for t, v in r.items()} for k, r in records.items()}

    @classmethod
    def from_file(cls, path: Path) -> OverridesResolver:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"SPACECAL_DNS_OVERRIDES_FILE {path}: cannot read it as JSON ({exc}); "
                'write {"name": {"TXT": ["..."]}}'
            ) from exc
        if not isinstance(data, dict) or not all(
            isinstance(r, dict)
            and all(isinstance(v, list) and all(isinstance(s, str) for s in v) for v in r.values())
            for r in data.values()
        ):
            raise ValueError(
                f"SPACECAL_DNS_OVERRIDES_FILE {path}: each name must map record types to "
                'lists of strings, e.g. {"_dmarc.example.com": {"TXT": ["v=DMARC1; p=none"]}}'
            )
        return cls(data)

    def txt(self, name: str) -> list[str]:
        return list(self._records.get(_key(name), {}).get("TXT", []))


class NetworkResolver:
    """The system's resolver (dnspython), with a time limit per lookup."""

    def __init__(self, timeout: float) -> None:
        self._resolver = dns.resolver.Resolver()
        self._timeout = timeout

    def txt(self, name: str) -> list[str]:
        try:
            answer = self._resolver.resolve(name, "TXT", lifetime=self._timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except dns.exception.DNSException as exc:
            # Not "no record": a DMARC reject policy must not vanish in a timeout.
            raise DnsUnavailable(f"DNS lookup of {name} failed: {type(exc).__name__}") from exc
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


def resolver_for(settings: Settings) -> Resolver:
    """The resolver the settings ask for."""
    if settings.dns_overrides_file is not None:
        return OverridesResolver.from_file(settings.dns_overrides_file)
    return NetworkResolver(settings.dns_timeout_seconds)
