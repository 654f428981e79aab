"""The one interface the sync engine, the portal and provisioning use for Google and
Microsoft. Adapters (`providers.google`, `providers.microsoft`) implement it; nothing
outside this package branches on the provider beyond choosing the adapter.

Errors are classified here, so callers decide on the kind, not on status codes:
throttling is account-wide (back off under the account lock), a dead refresh token
means "needs reconnect" (never retry), a sync reset means "full pull".
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from spacecal.domain import CalendarEvent
from spacecal.failures import Throttling

ProviderName = Literal["google", "microsoft", "caldav"]


# --- errors -------------------------------------------------------------------------


class ProviderError(Exception):
    """A provider call failed. `status` is the HTTP status (0 for a transport error);
    the message never contains a token."""

    def __init__(self, message: str, *, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Throttled(ProviderError, Throttling):
    """429, 403 rateLimitExceeded/userRateLimitExceeded, 503 with Retry-After: the
    mailbox or user is over its quota. `retry_after` is seconds (None: not said; the
    failure policy, spacecal.failures, then waits `throttle_default_seconds`)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class AccountReadOnly(ProviderError):
    """The account is over the provider's usage limits (Google 403 `quotaExceeded`,
    "Calendar usage limits exceeded."): its calendars are read-only for hours. Not
    throttling: retrying soon fails again; write nothing to the account for a while
    (sync/limits.py), reads go on."""


class Transient(ProviderError):
    """5xx or a transport error: retry later with backoff."""


class ConsentRevoked(ProviderError):
    """The refresh token is dead (`invalid_grant`): the account needs reconnecting."""


class SyncReset(ProviderError):
    """The sync token / delta link is no longer valid (410, syncStateNotFound)."""


class NotFound(ProviderError):
    """The calendar, event or subscription does not exist (404/410 on an item)."""


class Conflict(ProviderError):
    """409: the item already exists (a repeated client id, a duplicate subscription)."""


class PushNotSupported(ProviderError):
    """The calendar cannot be watched (Google `pushNotSupportedForRequestedResource`)."""


# --- values -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint returned. `refresh_token` None means "keep the old one"
    (Google does not always return one); Microsoft rotates it on every refresh."""

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at.isoformat()}, scopes={self.scopes})"


@dataclass(frozen=True)
class AccountIdentity:
    """Who consented: the account's email and stable subject id."""

    email: str
    subject: str


@dataclass(frozen=True)
class RemoteCalendar:
    id: str
    name: str


@dataclass(frozen=True)
class CalendarFacts:
    """What the provider says about one calendar, for verifying that spacecal made it
    for this account (sync/accounts/verify.py); never the name alone.

    `marked`: it carries spacecal's marker (Graph: a single-value extended property
    written at creation); Google: the token, scoped to `calendar.app.created`, can see
    it at all, which only a calendar this app made allows. `owned`: the account owns
    it (Graph `owner.address`, Google `accessRole` owner); `default`: the account's
    main calendar (Graph `isDefaultCalendar`, Google `primary`)."""

    name: str
    marked: bool
    owned: bool
    can_edit: bool
    default: bool


@dataclass(frozen=True)
class CalendarNote:
    """What spacecal leaves on a calendar it no longer syncs, so the member is not left
    guessing why events there stopped booking anything.

    `text` is the explanation (Google shows it as the calendar's description); `label`
    is a few words for providers whose calendars have no description (Graph): the
    calendar's name gets it as a suffix, "Room 1 · Riverside (no longer synced)"."""

    label: str
    text: str


@dataclass(frozen=True)
class Subscription:
    """A Google watch channel or a Graph subscription, as the provider granted it.

    `id` is the channel id / subscription id; `resource_id` is Google's resourceId
    (None for Graph); `secret` is the channel token / clientState we chose.
    `calendar_id` is the watched calendar when known (always for Google and for what
    `list_subscriptions` returns from Graph), so leftovers can be matched to calendars."""

    id: str
    expires_at: datetime
    secret: str = field(repr=False)
    resource_id: str | None = None
    calendar_id: str | None = None


@dataclass(frozen=True)
class SyncWindow:
    """The span a Graph calendarView delta covers (Google ignores it)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class PullResult:
    """Every change since the cursor, all pages read.

    `cursor` is what to store for next time (Google nextSyncToken, Graph deltaLink);
    `full` says this was a full pull (no cursor given): linked events missing from it
    are gone. `etags` maps event keys to the etag/changeKey the provider holds now,
    so an echo of spacecal's own write can be recognised."""

    events: Sequence[CalendarEvent]
    cursor: str
    full: bool
    etags: dict[str, str] = field(default_factory=dict)
    #: Series this pull read whole (CalDAV reads a changed series' resource whole):
    #: a linked instance of one of them inside the sync window that the pull did not
    #: return is gone (an earlier UNTIL, a smaller COUNT), as after a full pull.
    whole_series: frozenset[str] = frozenset()


class EventStyle(enum.Enum):
    """How spacecal shows an event: a booking, or a member's event it refused."""

    BOOKED = "booked"
    REFUSED = "refused"


@dataclass(frozen=True)
class EventWrite:
    """An event spacecal writes. `idempotency_key` makes a repeated create harmless:
    Google uses it (base32hex) as the event id, Graph as `transactionId`.

    `marker` goes into spacecal's private property (Google
    `extendedProperties.private`, Graph a single-value extended property): an opaque
    value only, never a booking id, member id or name, since the calendar's owner can
    read it; sync never reads it back. `block`: an availability block (another
    booking of the resource): busy, no attendees, no reminders."""

    idempotency_key: str
    title: str
    description: str
    start: datetime
    end: datetime
    time_zone: str
    marker: str | None = None
    tentative: bool = False
    block: bool = False


@dataclass(frozen=True)
class WrittenEvent:
    event_id: str
    etag: str


class Delivery(enum.Enum):
    """How spacecal learns that a calendar changed."""

    PUSH = "push"  # the provider calls our webhook (Google channels, Graph subscriptions)
    POLL = "poll"  # nobody calls: the sweep's schedule pulls (CalDAV)


@dataclass(frozen=True)
class Capabilities:
    """What the sync engine may ask of a provider. sync/ branches on these, never on
    the provider's name, so a new provider is a new adapter and a new row here.

    - `delivery`: push (webhooks, subscriptions to renew) or poll.
    - `windowed`: a pull covers a window that must roll daily (Graph's calendarView
      delta), so the engine records the window and resyncs when the day moves on.
    - `renews_in_place`: renewal extends the same subscription (Graph PATCH);
      otherwise a new channel replaces the old one, which is stopped after (Google).
    - `webhook_path` / `lifecycle_path`: where its notifications arrive (None: none).
    - `batch_writes`: the adapter has `create_events(access, calendar_id, events)`,
      several creates per request (Google's batch endpoint); each still counts
      against the quota, and a batch never spans accounts.
    - `paced_calendar_creation`: the provider punishes an account that creates many
      calendars quickly (Google: read-only for hours), so creation is paced per
      account (sync/limits.py)."""

    delivery: Delivery
    windowed: bool
    renews_in_place: bool
    webhook_path: str | None
    lifecycle_path: str | None = None
    batch_writes: bool = False
    paced_calendar_creation: bool = False

    @property
    def push(self) -> bool:
        return self.delivery is Delivery.PUSH


# --- the interface ----------------------------------------------------------------

TokenSaver = Callable[[TokenSet], Awaitable[None]]


class CalendarProvider(Protocol):
    """One provider's wire protocol. Every method that talks to the member's account
    takes the access token; `AccountSession` (providers.session) supplies a fresh one
    and retries once after a refresh on 401."""

    name: ProviderName
    capabilities: Capabilities

    # OAuth (authorization code with PKCE)
    def authorize_url(self, *, state: str, code_challenge: str, redirect_uri: str) -> str: ...

    def admin_consent_url(self, redirect_uri: str) -> str | None:
        """Where an administrator approves spacecal for a whole organisation (None: the
        provider has no such step)."""
        ...

    def needs_admin_consent(self, params: Mapping[str, str]) -> bool:
        """Whether the authorize redirect's `params` say only an administrator may consent."""
        ...

    async def exchange_code(
        self, *, code: str, code_verifier: str, redirect_uri: str
    ) -> tuple[TokenSet, AccountIdentity]: ...

    async def refresh(self, refresh_token: str) -> TokenSet: ...

    async def revoke(self, token: str) -> None: ...

    # calendars spacecal made in the member's account
    async def create_calendar(self, access: str, name: str, time_zone: str) -> RemoteCalendar: ...

    async def list_calendars(self, access: str) -> list[RemoteCalendar]: ...

    async def rename_calendar(self, access: str, calendar_id: str, name: str) -> None: ...

    async def calendar_facts(
        self, access: str, calendar_id: str, account_email: str
    ) -> CalendarFacts:
        """Marker, ownership, edit right and default flag of one calendar; a calendar
        the token cannot see raises NotFound."""
        ...

    async def mark_calendar(self, access: str, calendar_id: str) -> None:
        """Write spacecal's marker onto a calendar it made before markers existed
        (Graph); nothing for a provider whose token proves it (Google)."""
        ...

    async def set_calendar_note(
        self, access: str, calendar_id: str, *, name: str, note: CalendarNote | None
    ) -> str:
        """Show `note` on the calendar named `name` (None: take any note away, the
        calendar is synced again). Google: the description; Graph, whose calendars have
        no description: the name `"{name} ({label})"` (a name another calendar holds
        gets a number, "(label 2)"). Returns the calendar's name afterwards."""
        ...

    async def delete_calendar(self, access: str, calendar_id: str) -> None: ...

    # push
    async def subscribe(
        self,
        access: str,
        calendar_id: str,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        secret: str,
        ttl_seconds: int,
    ) -> Subscription: ...

    async def renew(
        self,
        access: str,
        calendar_id: str,
        current: Subscription,
        *,
        notification_url: str,
        lifecycle_url: str | None,
        new_secret: str,
        ttl_seconds: int,
    ) -> Subscription:
        """Google: a new channel (the caller stops the old one after); Graph: PATCH the
        expiry of the same subscription (NotFound when it is gone)."""
        ...

    async def unsubscribe(self, access: str, subscription: Subscription) -> None: ...

    async def list_subscriptions(self, access: str) -> list[Subscription]:
        """Graph: the app's live subscriptions; Google: none can be listed (empty)."""
        ...

    # sync
    async def pull(
        self, access: str, calendar_id: str, cursor: str | None, window: SyncWindow
    ) -> PullResult: ...

    # writes (idempotent; each returns the etag/changeKey it produced)
    async def create_event(
        self, access: str, calendar_id: str, event: EventWrite
    ) -> WrittenEvent: ...

    async def update_event(
        self, access: str, calendar_id: str, event_id: str, event: EventWrite
    ) -> WrittenEvent: ...

    async def patch_event(
        self,
        access: str,
        calendar_id: str,
        event_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        time_zone: str | None = None,
        marker: str | None = None,
    ) -> WrittenEvent:
        """Change only the given parts of an event (or one instance of a series): marking
        a refused event changes its text; putting a refused move back changes its time.
        `marker`: write spacecal's opaque marker and clear the booking-id property of
        events written before markers (Google, Graph; sync/reconcile/scrub.py)."""
        ...

    async def delete_event(self, access: str, calendar_id: str, event_id: str) -> None:
        """Already gone (404/410) counts as done."""
        ...


__all__ = [
    "AccountIdentity",
    "CalendarFacts",
    "CalendarNote",
    "CalendarProvider",
    "Capabilities",
    "Conflict",
    "ConsentRevoked",
    "Delivery",
    "EventStyle",
    "EventWrite",
    "NotFound",
    "ProviderError",
    "ProviderName",
    "PullResult",
    "PushNotSupported",
    "RemoteCalendar",
    "Subscription",
    "SyncReset",
    "SyncWindow",
    "Throttled",
    "TokenSaver",
    "TokenSet",
    "Transient",
    "WrittenEvent",
]
