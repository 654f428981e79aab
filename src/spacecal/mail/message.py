"""A received message as the invitation step sees it: which resource address it
reached, for which member, and what the sender's domain vouched for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailAuth:
    """What DKIM and DMARC said about the RFC 5322 From domain."""

    from_address: str  # lowercased
    dkim_domains: tuple[str, ...]  # d= of every signature that verified
    dmarc: str  # "pass" | "fail" | "none" (no DMARC record)
    dmarc_policy: str  # "none" | "quarantine" | "reject" | "" (no record)

    @property
    def refused_by_policy(self) -> bool:
        """The From domain asks receivers to quarantine or reject what fails alignment."""
        return self.dmarc == "fail" and self.dmarc_policy in ("quarantine", "reject")


@dataclass(frozen=True)
class Recipient:
    """The resource address a message was delivered to."""

    address: str  # as received, lowercased
    resource_id: int
    coworker_id: int | None  # None: the plain resource address (business opt-in)
    address_id: int | None  # the invitation_addresses row; None for the plain address
    current: bool  # False: a token replaced from the portal (updates/cancels of its UIDs only)


@dataclass(frozen=True)
class ReceivedMessage:
    id: int  # mail_messages.id
    raw: bytes
    recipient: Recipient
    auth: MailAuth
