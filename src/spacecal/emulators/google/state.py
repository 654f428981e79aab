"""The in-memory state of the Google emulator: accounts, OAuth grants, calendars,
events, channels, sync and page tokens.

Every write to a calendar's events takes the next value of one emulator-wide change
counter (`Store.next_seq`). A sync token remembers the counter value of the moment
its pull began, so "what changed since" is simply "seq greater than that": a change
made while a paged pull is under way gets a higher seq and shows up in the next
incremental pull, never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spacecal.emulators.google.times import EventTime


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: list[str]  # exact matches; "*" accepts any


@dataclass
class Account:
    email: str
    sub: str
    name: str


@dataclass
class Grant:
    """One consent: an account allowed a client some scopes."""

    id: int
    email: str
    client_id: str
    scopes: frozenset[str]
    refresh_token: str | None = None
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: datetime


@dataclass
class AuthCode:
    code: str
    grant: Grant
    redirect_uri: str
    code_challenge: str | None
    code_challenge_method: str | None
    issue_refresh: bool
    nonce: str | None
    expires_at: datetime
    used: bool = False


@dataclass
class PendingAuthorization:
    """An authorize request waiting for the consent form to be submitted."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    prompt_consent: bool
    nonce: str | None
    login_hint: str | None


@dataclass
class Override:
    """An exception to a series: one instance moved/edited, or cancelled."""

    key: str
    original: EventTime
    fields: dict[str, Any]
    cancelled: bool
    seq: int
    updated: datetime
    etag: str


@dataclass
class Event:
    id: str
    body: dict[str, Any]  # client-settable fields as last written (start/end normalised)
    created: datetime
    updated: datetime
    etag: str
    seq: int
    ical_uid: str
    sequence: int = 0
    cancelled: bool = False
    overrides: dict[str, Override] = field(default_factory=dict)
    # Instances that vanished when the series was edited: key -> (original, seq, etag)
    removed: dict[str, tuple[EventTime, int, str]] = field(default_factory=dict)

    @property
    def recurring(self) -> bool:
        return bool(self.body.get("recurrence"))


@dataclass
class Calendar:
    id: str
    owner: str
    summary: str
    time_zone: str
    description: str | None
    location: str | None
    created_by_client: str | None
    etag: str
    resource_id: str
    primary: bool = False
    deleted: bool = False
    push_supported: bool = True
    events: dict[str, Event] = field(default_factory=dict)


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar_id: str
    account: str
    address: str
    token: str | None
    expiration: datetime
    client_id: str
    message_number: int = 1
    stopped: bool = False


@dataclass
class SyncTokenState:
    calendar_id: str
    seq: int
    params_key: str
    valid: bool = True


@dataclass
class PageState:
    calendar_id: str
    params_key: str
    items: list[dict[str, Any]]
    offset: int
    snapshot_seq: int


class Store:
    """All state of one Google emulator; plain dictionaries, one event loop."""

    def __init__(self) -> None:
        self.seq = 0
        self.last_updated: datetime | None = None
        self.clients: dict[str, OAuthClient] = {}
        self.accounts: dict[str, Account] = {}
        self.grants: list[Grant] = []
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.pending: dict[str, PendingAuthorization] = {}
        self.calendars: dict[str, Calendar] = {}
        self.channels: dict[str, Channel] = {}
        self.sync_tokens: dict[str, SyncTokenState] = {}
        self.page_tokens: dict[str, PageState] = {}

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq
