"""DKIM and DMARC through the one resolver: keys and policies from the overrides file,
nothing from the network."""

from __future__ import annotations

import json
from pathlib import Path

import dns.resolver
import pytest
from tests.mail.intake_support import dkim_key, invitation

from spacecal.config import Settings
from spacecal.mail import auth
from spacecal.mail.dns import DnsUnavailable, OverridesResolver, resolver_for

KEY = dkim_key("example.com")
RECORDS = {
    "s1._domainkey.example.com": {"TXT": [KEY.record]},
    "_dmarc.example.com": {"TXT": ["v=DMARC1; p=reject; rua=mailto:d@example.com"]},
}


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every lookup that would go to the network (none may)."""
    asked: list[str] = []

    def refuse(self: object, name: str, *args: object, **kwargs: object) -> None:
        asked.append(str(name))
        raise AssertionError(f"a network lookup of {name}")

    monkeypatch.setattr(dns.resolver.Resolver, "resolve", refuse)
    return asked


def test_a_signed_message_passes_dkim_and_dmarc() -> None:
    signed = KEY.sign(invitation())
    result = auth.check(signed, OverridesResolver(RECORDS))
    assert result.from_address == "alice@example.com"
    assert result.dkim_domains == ("example.com",)
    assert (result.dmarc, result.dmarc_policy) == ("pass", "reject")
    assert not result.refused_by_policy


def test_a_forged_from_fails_the_domains_reject_policy() -> None:
    # Unsigned, and signed by a domain of the forger's own: neither aligns.
    forger = dkim_key("forger.test")
    records = {**RECORDS, "s1._domainkey.forger.test": {"TXT": [forger.record]}}
    for message in (invitation(), forger.sign(invitation())):
        result = auth.check(message, OverridesResolver(records))
        assert (result.dmarc, result.dmarc_policy) == ("fail", "reject")
        assert result.refused_by_policy


def test_a_tampered_message_does_not_verify() -> None:
    signed = KEY.sign(invitation()).replace(b"SUMMARY:Planning", b"SUMMARY:Takeover")
    result = auth.check(signed, OverridesResolver(RECORDS))
    assert result.dkim_domains == ()
    assert result.refused_by_policy


def test_relaxed_alignment_takes_parents_and_children_never_siblings() -> None:
    parent = dkim_key("example.com")
    records = {
        "s1._domainkey.example.com": {"TXT": [parent.record]},
        "_dmarc.example.com": {"TXT": ["v=DMARC1; p=none; sp=quarantine"]},
    }
    sub = parent.sign(invitation(sender="bob@eu.example.com"))
    result = auth.check(sub, OverridesResolver(records))
    # Found by walking up: sp= applies to the subdomain; d=example.com aligns (relaxed).
    assert (result.dmarc, result.dmarc_policy) == ("pass", "quarantine")
    sibling = dkim_key("us.example.com")
    records["s1._domainkey.us.example.com"] = {"TXT": [sibling.record]}
    result = auth.check(
        sibling.sign(invitation(sender="bob@eu.example.com")), OverridesResolver(records)
    )
    assert result.dkim_domains == ("us.example.com",)
    assert result.refused_by_policy
    strict = {**records, "_dmarc.eu.example.com": {"TXT": ["v=DMARC1; p=reject; adkim=s"]}}
    assert auth.check(sub, OverridesResolver(strict)).refused_by_policy


def test_no_dmarc_record_means_none_and_a_missing_from_is_refused() -> None:
    result = auth.check(invitation(), OverridesResolver({}))
    assert (result.dmarc, result.dmarc_policy, result.refused_by_policy) == ("none", "", False)
    no_from = invitation().replace(b"From: Alice <alice@example.com>\r\n", b"")
    assert auth.check(no_from, OverridesResolver({})).refused_by_policy
    two = b"From: a@example.com\r\n" + invitation()
    assert auth.check(two, OverridesResolver({})).from_address == ""


def test_overrides_file_unlisted_names_have_no_records_and_no_network(
    tmp_path: Path, no_network: list[str]
) -> None:
    path = tmp_path / "dns.json"
    path.write_text(json.dumps({"_DMARC.Example.COM.": {"txt": ["v=DMARC1; p=reject"]}}))
    resolver = resolver_for(Settings(dns_overrides_file=path))
    assert resolver.txt("_dmarc.example.com") == ["v=DMARC1; p=reject"]
    assert resolver.txt("_dmarc.example.org") == []
    assert resolver.txt("s1._domainkey.example.com") == []
    result = auth.check(KEY.sign(invitation()), resolver)
    assert result.dkim_domains == () and result.refused_by_policy
    assert no_network == []


def test_a_broken_overrides_file_says_what_to_write(tmp_path: Path) -> None:
    path = tmp_path / "dns.json"
    path.write_text('{"x": ["not a mapping"]}')
    with pytest.raises(ValueError, match="SPACECAL_DNS_OVERRIDES_FILE"):
        resolver_for(Settings(dns_overrides_file=path))


def test_without_overrides_the_network_resolver_is_used(no_network: list[str]) -> None:
    resolver = resolver_for(Settings())
    with pytest.raises(AssertionError):
        resolver.txt("_dmarc.example.com")
    assert no_network == ["_dmarc.example.com"]


def test_garbage_signatures_fail_quietly_and_dns_failures_are_not_failures() -> None:
    junk = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; b=!!!; bh=???\r\n"
    result = auth.check(junk + invitation(), OverridesResolver(RECORDS))
    assert result.dkim_domains == () and result.refused_by_policy

    class Failing:
        def txt(self, name: str) -> list[str]:
            raise DnsUnavailable(f"DNS lookup of {name} failed: Timeout")

    with pytest.raises(DnsUnavailable):
        auth.check(KEY.sign(invitation()), Failing())
