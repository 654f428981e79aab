"""What the From domain vouches for: DKIM signatures (dkimpy) and DMARC (RFC 7489).

Every DNS lookup goes through the one resolver (mail/dns.py). DMARC is evaluated on
DKIM alone: SPF is not checked, since invitations often arrive through relays and
forwarders that break it; a domain publishing quarantine or reject whose mail is not
DKIM-signed with an aligned domain is refused (docs/invitations.md).

Alignment is relaxed unless the record says `adkim=s`. Without a public suffix list,
relaxed alignment accepts a signing domain equal to the From domain or a parent or
child of it (never a sibling such as a.example.com for b.example.com): only the
owner of a domain can publish keys under it, so this never aligns a stranger. The
policy record is found by walking up from the From domain (the tree walk of
DMARCbis), `sp=` applying when it was found above the From domain.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses

import dkim

from spacecal.mail.dns import DnsUnavailable, Resolver
from spacecal.mail.message import MailAuth

_MAX_SIGNATURES = 5
_MAX_WALK = 8
_POLICIES = ("none", "quarantine", "reject")


def from_address(raw: bytes) -> str | None:
    """The one RFC 5322 From address, lowercased; None when there is not exactly one."""
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    values = headers.get_all("From") or []
    if len(values) != 1:
        return None
    found = [a for _, a in getaddresses([str(values[0])]) if a]
    if len(found) != 1 or "@" not in found[0]:
        return None
    try:
        Address(addr_spec=found[0])
    except (ValueError, IndexError):
        return None
    return found[0].strip().lower()


def dkim_domains(raw: bytes, resolver: Resolver) -> tuple[str, ...]:
    """The d= of every DKIM signature that verifies (at most the first few)."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        del timeout
        records = resolver.txt(name.decode("ascii", "replace"))
        return records[0].encode("utf-8") if records else None

    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    count = min(len(headers.get_all("DKIM-Signature") or []), _MAX_SIGNATURES)
    domains: list[str] = []
    for idx in range(count):
        verifier = dkim.DKIM(raw)
        try:
            ok = verifier.verify(idx=idx, dnsfunc=lookup)
        except DnsUnavailable:
            raise  # try again later: not a failed signature
        except Exception:  # dkimpy raises more than DKIMException on hostile input
            ok = False
        if ok and verifier.domain:
            domain = verifier.domain.decode("ascii", "replace").lower().rstrip(".")
            if domain not in domains:
                domains.append(domain)
    return tuple(domains)


def _tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        key, eq, value = part.partition("=")
        if eq:
            tags[key.strip().lower()] = value.strip()
    return tags


def _policy_record(domain: str, resolver: Resolver) -> tuple[dict[str, str], bool] | None:
    """The DMARC record for `domain` and whether it was found at `domain` itself."""
    labels = domain.split(".")
    for i in range(min(len(labels) - 1, _MAX_WALK)):
        name = ".".join(labels[i:])
        records = [r for r in resolver.txt(f"_dmarc.{name}") if r.lower().startswith("v=dmarc1")]
        if len(records) == 1:
            return _tags(records[0]), i == 0
    return None


def _aligned(signer: str, domain: str, strict: bool) -> bool:
    if signer == domain:
        return True
    return not strict and (signer.endswith("." + domain) or domain.endswith("." + signer))


def check(raw: bytes, resolver: Resolver) -> MailAuth:
    """DKIM and DMARC for `raw`. A message without exactly one From address fails as if
    its domain published reject: nobody is vouching for it."""
    sender = from_address(raw)
    if sender is None:
        return MailAuth("", (), "fail", "reject")
    domain = sender.rpartition("@")[2].rstrip(".")
    signers = dkim_domains(raw, resolver)
    found = _policy_record(domain, resolver)
    if found is None:
        return MailAuth(sender, signers, "none", "")
    tags, own = found
    policy = tags.get("p", "").lower()
    if not own and tags.get("sp"):
        policy = tags["sp"].lower()
    if policy not in _POLICIES:
        policy = "none"
    strict = tags.get("adkim", "r").lower() == "s"
    passed = any(_aligned(s, domain, strict) for s in signers)
    return MailAuth(sender, signers, "pass" if passed else "fail", policy)
