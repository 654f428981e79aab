"""Every knob of spacecal, in one place.

Each field is read from an environment variable: `SPACECAL_<FIELD>` in upper case,
except `DATABASE_URL`, which keeps its conventional name. The names are a public
contract (DESIGN.md, Configuration contract), so scripts and operators can rely on
them. Time spans are settings too, so tests can shrink them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPACECAL_", extra="ignore")

    # --- storage -------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SPACECAL_DATABASE_URL"),
        description="PostgreSQL to use; unset starts the embedded server in the data directory.",
    )
    data_dir: Path = Field(
        default=Path("./.spacecal"),
        description="Data directory: embedded database and generated keys.",
    )
    db_pool_size: int = Field(default=10, ge=1, description="Connections per process pool.")

    # --- the HTTP service ----------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address `spacecal serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `spacecal serve` binds to.")
    public_url: str | None = Field(
        default=None,
        description="Base URL providers reach webhooks and OAuth callbacks at "
        "(default http://127.0.0.1:<port>).",
    )

    # --- limits on what a client may send (web/limits.py, web/guard.py) ----------
    max_header_bytes: int = Field(
        default=32 * 1024, ge=1024, description="Request line and headers past this: 431."
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request's line and headers must arrive within this."
    )
    body_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A request's body must arrive within this (408)."
    )
    webhook_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest body of a provider webhook (413)."
    )
    api_max_body_bytes: int = Field(
        default=256 * 1024, ge=1, description="Largest body of a records API request (413)."
    )
    form_max_body_bytes: int = Field(
        default=64 * 1024, ge=1, description="Largest body of a portal or console form (413)."
    )
    default_max_booking_minutes: int = Field(
        default=1440,
        ge=1,
        description="Longest booking of a resource that sets no MaxBookingLength (one day: "
        "an all-day booking fits; a booking of days or weeks is refused on every path).",
    )

    # --- secrets ---------------------------------------------------------------
    secret_keys: str | None = Field(
        default=None,
        description="Comma-separated Fernet keys, newest first. Required with DATABASE_URL; "
        "generated into the data directory for the embedded default.",
    )

    # --- API authentication --------------------------------------------------
    access_token_ttl_seconds: int = Field(
        default=604799, ge=1, description="Lifetime of an API access token from POST /api/token."
    )
    refresh_token_ttl_seconds: int = Field(
        default=15 * 24 * 3600, ge=1, description="Lifetime of an API refresh token."
    )
    basic_auth_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long a verified Basic credential skips argon2."
    )
    bearer_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a checked Bearer token skips the database."
    )
    refresh_chain_days: float = Field(
        default=90.0,
        gt=0,
        description="Absolute lifetime of a refresh-token chain (from its password grant): "
        "past it, refreshing fails and the user signs in again.",
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Sign-in attempts allowed per account from one address within the "
        "window (counted before the password is checked; a success gives its slot back).",
    )
    login_address_max_failures: int = Field(
        default=30,
        ge=1,
        description="Sign-in attempts allowed per client address (IPv4 address or IPv6 "
        "/64), whatever the account, within the window.",
    )
    login_account_max_failures: int = Field(
        default=50,
        ge=1,
        description="Sign-in attempts allowed per account from all addresses together "
        "within the window; once reached, only addresses that have failed at the account "
        "are refused (an address without failures of its own still signs in).",
    )
    login_failure_window_seconds: float = Field(
        default=300.0, gt=0, description="The sign-in limiter's window, in seconds, before 429."
    )
    login_verify_concurrency: int = Field(
        default=2,
        ge=1,
        description="Password checks (argon2) running at once per process, for sign-ins "
        "not answered from a cache.",
    )
    login_verify_queue: int = Field(
        default=16,
        ge=0,
        description="Sign-ins allowed to wait for a password check per process; beyond "
        "it a sign-in is answered 503 with Retry-After.",
    )
    password_hash_time_cost: int = Field(
        default=3, ge=1, description="argon2 time cost of new password hashes."
    )
    password_hash_memory_kib: int = Field(
        default=65536, ge=8, description="argon2 memory cost (KiB) of new password hashes."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses (or networks) of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto are believed; empty: none, the TCP peer is "
        "the client.",
    )

    # --- search paging ---------------------------------------------------------
    page_size_default: int = Field(
        default=25, ge=1, description="Records per search page when `size` is not given."
    )
    page_size_max: int = Field(default=1000, ge=1, description="Larger `size` values are clamped.")

    # --- get-one read path (api/get_one.py) ---------------------------------------
    api_fast_get_one: bool = Field(
        default=True,
        description="Answer GET of one record before FastAPI's routing, with reads of "
        "concurrent requests sharing one query; false serves it through the FastAPI route.",
    )
    api_get_one_lanes: int = Field(
        default=2,
        ge=1,
        description="Queries in flight at once per record type on the fast get-one path "
        "(each holds a pooled connection while requests keep coming).",
    )

    # --- providers (unset client ids: that provider is not offered) -------------
    google_client_id: str | None = Field(
        default=None, description="Google OAuth client id; unset: Google is not offered."
    )
    google_client_secret: str | None = Field(default=None, description="Google OAuth secret.")
    google_api_base: str = Field(
        default="https://www.googleapis.com/calendar/v3", description="Calendar API v3 base."
    )
    google_authorize_url: str = Field(
        default="https://accounts.google.com/o/oauth2/v2/auth",
        description="Google's OAuth authorization endpoint.",
    )
    google_token_url: str = Field(
        default="https://oauth2.googleapis.com/token", description="Google's token endpoint."
    )
    google_revoke_url: str = Field(
        default="https://oauth2.googleapis.com/revoke", description="Google's revocation endpoint."
    )
    microsoft_client_id: str | None = Field(
        default=None,
        description="Microsoft identity platform application (client) id; unset: Microsoft "
        "is not offered.",
    )
    microsoft_client_secret: str | None = Field(
        default=None, description="Microsoft application client secret."
    )
    microsoft_tenant: str = Field(
        default="common", description="Tenant in the authorize and token URLs."
    )
    microsoft_graph_base: str = Field(
        default="https://graph.microsoft.com/v1.0", description="Microsoft Graph base."
    )
    microsoft_login_base: str = Field(
        default="https://login.microsoftonline.com",
        description="Identity platform base; authorize and token live under "
        "/{tenant}/oauth2/v2.0/.",
    )

    # --- logging ----------------------------------------------------------------
    log_level: str = Field(
        default="INFO", description="Level of spacecal's own loggers in serve and worker."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="Log lines as JSON objects or text; auto: text on a terminal, JSON "
        "otherwise (spacecal.logs).",
    )
    log_json: bool = Field(
        default=False, description="Same as log_format=json (kept for older deployments)."
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="`spacecal worker` serves /metrics on this port (unset: none; the API "
        "process serves its own at /metrics).",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1", description="Address the worker's /metrics port binds to."
    )

    # --- providers (adapters) ---------------------------------------------------
    # The access-token refresh margin is `token_refresh_margin_seconds` (portal block).
    google_page_size: int = Field(
        default=2500,
        ge=1,
        le=2500,
        description="Google events.list maxResults per page (Google's maximum is 2500).",
    )
    microsoft_page_size: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="Graph delta `Prefer: odata.maxpagesize` (Graph's maximum is 1000).",
    )
    microsoft_subscription_max_minutes: int = Field(
        default=4230,
        ge=45,
        description="Cap on a Graph subscription's requested lifetime: 4230 minutes is the "
        "lower of the two documented maxima (10,080 in current docs), so both are safe.",
    )
    # Provider limits a member's account meets (issue 18, items 10 and 12).
    google_calendar_creates_per_hour: float = Field(
        default=20.0,
        gt=0,
        description="Calendars spacecal creates per Google account per hour at most (Google "
        "makes an account read-only for hours past about 60 in a short period).",
    )
    google_calendar_create_burst: int = Field(
        default=5,
        ge=1,
        description="How many calendars of one Google account may be created at once before "
        "the hourly pace applies; the rest are set up progressively.",
    )
    microsoft_concurrent_requests: int = Field(
        default=4,
        ge=1,
        description="Graph requests in flight per Microsoft account at most, per process "
        "(Graph allows 4 concurrent requests per app per mailbox).",
    )
    google_requests_per_minute: float = Field(
        default=500.0,
        gt=0,
        description="Calendar API requests per Google account in any rolling minute at most, "
        "every process together (Google allows about 600 per user per project).",
    )
    google_project_requests_per_minute: float = Field(
        default=10_000.0,
        ge=0,
        description="Calendar API requests of the whole Google project (every account, "
        "every process) in any rolling minute at most; 0 turns the project budget off.",
    )
    microsoft_requests_per_minute: float = Field(
        default=900.0,
        ge=0,
        description="Graph requests per Microsoft mailbox in any rolling minute at most, "
        "every process together (Graph allows 10,000 per 10 minutes per app per mailbox); "
        "0 turns it off.",
    )
    microsoft_project_requests_per_minute: float = Field(
        default=0.0,
        ge=0,
        description="Graph requests of the whole application in any rolling minute at most "
        "(every mailbox, every process); 0 turns the project budget off.",
    )
    request_pace_burst_fraction: float = Field(
        default=0.6,
        gt=0,
        lt=1,
        description="The share of a request budget that may go at once (a new "
        "connection's fill); the rest is spread evenly over the minute, so no rolling "
        "minute holds more than the budget.",
    )
    request_pace_max_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        description="The longest a provider request waits in its process for its account's "
        "(or the project's) request budget; a longer wait ends the reconcile, which is "
        "queued again for when the budget allows.",
    )
    account_read_only_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="After a provider says an account is over its usage limits (Google "
        "`quotaExceeded`), spacecal writes nothing to that account for this long.",
    )

    # --- outgoing mail (iMIP replies, confirmations, notices; mail/outbox.py) ----------
    smtp_url: str | None = Field(
        default=None,
        description="Outgoing mail relay, e.g. smtp://user:pass@relay:587 (STARTTLS, required "
        "with credentials unless the relay is on loopback; smtps:// for implicit TLS). "
        "Unset: nothing is sent, mail stays queued.",
    )
    dkim_key_file: Path | None = Field(
        default=None,
        description="PEM private key that DKIM-signs outgoing mail (with dkim_selector).",
    )
    dkim_selector: str | None = Field(
        default=None, description="DKIM selector published in DNS for dkim_key_file."
    )
    mail_backoff_base_seconds: float = Field(
        default=60.0, gt=0, description="First wait after the relay refused an outgoing message."
    )
    mail_backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between an outgoing message's retries."
    )
    mail_max_attempts: int = Field(
        default=12, ge=1, description="Outgoing message attempts before it is given up."
    )
    mail_send_batch: int = Field(
        default=50, ge=1, description="Outgoing messages one sender pass sends at most."
    )
    mail_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one conversation with the outgoing relay."
    )

    # --- portal -----------------------------------------------------------------
    portal_session_hours: float = Field(
        default=12.0, gt=0, description="How long a members' portal sign-in lasts."
    )
    portal_sign_in_link_minutes: int = Field(
        default=24 * 60, ge=1, description="Lifetime of a one-time sign-in link an admin issues."
    )
    oauth_state_minutes: int = Field(
        default=10, ge=1, description="How long a Connect attempt may take at the provider."
    )
    delete_calendars_on_disconnect: bool = Field(
        default=False,
        description="Delete the calendars spacecal made when a member disconnects "
        "(default: keep them, with their events as they are).",
    )
    subscription_ttl_seconds: int = Field(
        default=6 * 24 * 3600,
        ge=60,
        description="Requested lifetime of a push channel/subscription (the provider's "
        "answer is what is stored).",
    )
    token_refresh_margin_seconds: int = Field(
        default=300, ge=0, description="Refresh an access token this long before it expires."
    )
    provider_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one provider call."
    )
    disconnect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Budget for stopping subscriptions inline on disconnect (best effort).",
    )

    # --- sync (jobs, backoff) ------------------------------------------------------
    worker_concurrency: int = Field(
        default=4, ge=1, description="Jobs one worker process runs at once."
    )
    sync_backoff_base_seconds: float = Field(
        default=30.0, gt=0, description="First wait after a calendar's sync failed."
    )
    sync_backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between a failing calendar's retries."
    )
    throttle_default_seconds: float = Field(
        default=60.0, gt=0, description="Wait after throttling when no Retry-After was given."
    )
    sweep_quiet_seconds: float = Field(
        default=1800.0,
        gt=0,
        description="A connection with no notification and no sync "
        "for this long is reconciled by the sweep (recovers lost notifications).",
    )
    worker_poll_seconds: float = Field(
        default=0.2,
        gt=0,
        description="How often an idle worker looks for runnable jobs besides being woken by "
        "new ones. A job queued behind its account's running job is not woken when that job "
        "ends (procrastinate notifies inserts only), so this bounds its wait.",
    )
    dispatch_poll_seconds: float = Field(
        default=0.05,
        gt=0,
        description="How often each worker turns webhook marks on connections into reconcile "
        "jobs (sync/intake/dispatch.py); bounds the delay a notification adds before its sync.",
    )
    dispatch_batch_size: int = Field(
        default=500, ge=1, description="Marks turned into jobs per dispatcher transaction."
    )
    stalled_job_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A running job whose worker stopped beating this "
        "long ago is failed and queued again (until then it holds its account's lock). "
        "Keep it above the longest database outage you expect: a live worker cut off "
        "that long looks dead too, and its jobs run a second time.",
    )

    worker_heartbeat_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a worker records that it is alive; keep it well below "
        "stalled_job_seconds, or a busy live worker's jobs look stalled.",
    )
    recover_every_seconds: int = Field(
        default=60,
        ge=1,
        description="How often stalled-job recovery runs (one run per period across all "
        "workers). Under 60: a second count; otherwise rounded down to whole minutes.",
    )
    sweep_every_seconds: int = Field(
        default=60,
        ge=1,
        description="How often the sweep looks for connections that are due (one run per "
        "period across all workers). Under 60: a second count; otherwise whole minutes.",
    )

    sync_window_margin_days: int = Field(
        default=365,
        ge=0,
        description="How far past the booking horizon (MaxBookingDaysAhead) Graph's "
        "calendarView delta window reaches, so Outlook events beyond the horizon are seen "
        "and refused at once. The window is re-based when less than half of it is left; "
        "the whole window is kept within Graph's 1,825 days.",
    )

    block_put_backs_per_hour: int = Field(
        default=3,
        ge=0,
        description="At most this many times per rolling hour spacecal puts back one "
        "availability block a member moved, retitled or deleted (so two systems cannot "
        "fight over it); later changes wait for the hour to pass.",
    )

    block_settle_seconds: float = Field(
        default=0.3,
        ge=0,
        le=60,
        description="A booking's change reaches the resource's other calendars (their "
        "availability blocks) once the booking has had no further change for this long, "
        "so a booking dragged across a day costs each calendar one write, not one per "
        "step; 0 writes at once.",
    )
    block_settle_max_seconds: float = Field(
        default=1.0,
        ge=0,
        le=600,
        description="...but never later than this after its first unwritten change, "
        "however often the booking keeps changing.",
    )
    block_fanout_batch: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="A blocks-only reconcile (a booking change shown in the resource's "
        "other calendars) takes up to this many more queued blocks-only reconciles of "
        "other accounts into its own job, each still under its account's job lock; 1 "
        "runs one calendar per job.",
    )
    block_fanout_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Calendars one such job writes at once (each holds a database "
        "connection of the worker's pool while it does).",
    )
    block_create_concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        description="Availability blocks created at once in one calendar (a new "
        "connection's fill); each is still its own request with its own idempotency "
        "key, paced within the account's budget, and Graph's per-mailbox limit of 4 "
        "concurrent requests still applies.",
    )

    # --- keep-alive --------------------------------------------------------------
    google_renewal_margin_seconds: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Renew a Google channel this long before it expires.",
    )
    microsoft_renewal_margin_seconds: float = Field(
        default=12 * 3600.0,
        gt=0,
        description="Renew a Graph subscription this long before it expires.",
    )
    renewal_jitter_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="Renewals are spread over this window (a fixed offset per connection), "
        "so connections made together do not renew in the same second.",
    )
    renewal_batch_size: int = Field(
        default=500,
        ge=1,
        description="At most this many connections are queued for keep-alive work per pass "
        "(one pass a minute); the rest follow in the next passes.",
    )
    renewal_backoff_base_seconds: float = Field(
        default=60.0, gt=0, description="First wait after a renewal failed."
    )
    renewal_backoff_cap_seconds: float = Field(
        default=3600.0, gt=0, description="Longest wait between a failing renewal's retries."
    )
    leftover_max_attempts: int = Field(
        default=24,
        ge=1,
        description="Stopping the channel/subscription of a deleted connection, or writing "
        "the note on a calendar kept after a disconnect, is tried at most this often (the "
        "renewal backoff between tries); a channel still not stopped lapses at its expiry.",
    )
    poll_interval_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Calendars that cannot be watched (pushNotSupportedForRequestedResource) "
        "are reconciled this often.",
    )
    caldav_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="CalDAV calendars are polled (no push): one that changed at its last "
        "poll is polled again after this long.",
    )
    caldav_poll_max_seconds: float = Field(
        default=900.0,
        gt=0,
        description="A quiet CalDAV calendar's interval doubles at each unchanged poll "
        "(after the first SPACECAL_CALDAV_POLL_ACTIVE_POLLS), up to this.",
    )
    caldav_poll_active_polls: int = Field(
        default=3,
        ge=0,
        description="After a CalDAV calendar changed, this many unchanged polls keep the "
        "short interval (SPACECAL_CALDAV_POLL_SECONDS) before it starts doubling, so a "
        "calendar a member is editing stays polled often.",
    )
    caldav_poll_jitter: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Each CalDAV poll time is moved by up to this fraction of its interval, "
        "either way, so polls spread over time instead of arriving together.",
    )
    caldav_host_locks: int = Field(
        default=4,
        ge=1,
        description="At most this many CalDAV syncs run at once against one server host "
        "(lock buckets per host; an account always uses the same bucket).",
    )
    clock_offset_seconds: float = Field(
        default=0.0,
        description="Run this process's clock this many seconds from the machine's. Leave 0 "
        "in production; test fleets set it (and `spacecal emulate --clock-offset`) to run "
        "every process at an instant the test chose. Job times are delays from "
        "PostgreSQL's own clock, so they are unaffected.",
    )
    prune_jobs_after_seconds: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="Finished jobs (succeeded, failed, cancelled, aborted) older than this are "
        "deleted.",
    )
    prune_sync_runs_after_seconds: float = Field(
        default=30 * 24 * 3600.0,
        gt=0,
        description="Sync history (sync_runs) older than this is deleted.",
    )

    # --- admin console (spacecal.admin, /admin) ------------------------------------
    admin_session_hours: float = Field(
        default=8.0, gt=0, description="How long an admin console sign-in lasts."
    )
    admin_page_size: int = Field(
        default=25, ge=1, le=500, description="Connections per page in the admin console."
    )
    admin_expiring_soon_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="The console flags a connection whose push subscription expires within "
        "this long (renewal normally happens well before: see the renewal margins).",
    )
    admin_history_size: int = Field(
        default=20, ge=1, le=500, description="Sync runs shown on a connection's console page."
    )

    # --- outbound webhooks (spacecal.outbound, docs/webhooks.md) -------------
    outbound_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Time allowed for one webhook delivery (connect to answer)."
    )
    outbound_backoff_base_seconds: float = Field(
        default=10.0, ge=0, description="Wait before a failed delivery's first retry; doubles."
    )
    outbound_backoff_cap_seconds: float = Field(
        default=3600.0, ge=0, description="Longest wait between two attempts of one delivery."
    )
    outbound_max_attempts: int = Field(
        default=10, ge=1, description="Attempts of one delivery before it is given up."
    )
    outbound_disable_after: int = Field(
        default=10,
        ge=1,
        description="Consecutive failed deliveries after which a webhook is turned off "
        "(Active false, LastError says why).",
    )
    outbound_max_redirects: int = Field(
        default=3,
        ge=0,
        description="Redirects followed per delivery, only to the same host and port "
        "(or its https:// upgrade).",
    )
    allow_private_targets: bool = Field(
        default=False,
        description="Let outgoing connections to addresses users typed (webhook URLs) reach "
        "loopback, private and internal-name hosts, for receivers on your own network. "
        "Link-local and cloud metadata addresses (fd00:ec2::254, 100.100.100.200, "
        "168.63.129.16), multicast and reserved addresses stay refused.",
    )

    # --- CalDAV servers (spacecal.providers.caldav, docs/caldav.md) ---------------
    caldav_ca_file: Path | None = Field(
        default=None,
        description="PEM file of extra CA certificates trusted for CalDAV servers (beside "
        "the system's), for servers with a private or self-signed certificate.",
    )
    caldav_timeout_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Timeout of each phase of a CalDAV request (connect, each read); one "
        "request as a whole gets three times this.",
    )
    caldav_max_redirects: int = Field(
        default=5,
        ge=0,
        description="Redirects followed per CalDAV request (discovery's well-known URI, "
        "iCloud's partition hosts); credentials only go where docs/caldav.md says.",
    )
    caldav_multiget_batch: int = Field(
        default=100, ge=1, le=1000, description="Events read per calendar-multiget REPORT."
    )
    caldav_max_instances: int = Field(
        default=1000,
        ge=1,
        description="Most instances of one recurring CalDAV event expanded per pull "
        "(the latest ones up to the sync window's end are kept).",
    )
    caldav_connect_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed CalDAV connects allowed per member (to one server, and in "
        "all once it has failures there) within SPACECAL_CALDAV_CONNECT_WINDOW_SECONDS; "
        "then the portal says to wait.",
    )
    caldav_connect_host_max_failures: int = Field(
        default=50,
        ge=1,
        description="Failed CalDAV connects allowed per server host, all members "
        "together, within SPACECAL_CALDAV_CONNECT_WINDOW_SECONDS.",
    )
    caldav_connect_window_seconds: float = Field(
        default=900.0, gt=0, description="The CalDAV connect throttle's window, in seconds."
    )
    caldav_max_changes_per_pull: int = Field(
        default=2000,
        ge=1,
        description="Changed CalDAV resources one pull reads at most: paging stops at the "
        "sync page that reaches it and the next poll goes on from that page's token.",
    )
    caldav_max_components: int = Field(
        default=1000,
        ge=1,
        description="Most VEVENTs, overrides, EXDATEs or RDATEs one CalDAV resource may "
        "hold; a resource holding more is read as unreadable and books nothing.",
    )

    # --- invitations by mail: receiving (spacecal.mail, docs/invitations.md) -----
    mail_domain: str | None = Field(
        default=None,
        description="Domain of the resources' invitation addresses "
        "(`<resource>+<token>@<domain>`); unset: invitations are off.",
    )
    smtp_listen: str | None = Field(
        default=None,
        description="`host:port` where `spacecal mail` (or `serve --smtp`) receives mail; "
        "unset: no receiver.",
    )
    smtp_tls_cert: Path | None = Field(
        default=None, description="PEM certificate (chain) offered with STARTTLS by the receiver."
    )
    smtp_tls_key: Path | None = Field(
        default=None, description="PEM private key of SPACECAL_SMTP_TLS_CERT; both or neither."
    )
    smtp_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest message the receiver accepts, advertised in SIZE and enforced "
        "while receiving (552 before anything is stored).",
    )
    smtp_timeout_seconds: float = Field(
        default=60.0, gt=0, description="An SMTP client silent for this long is cut off."
    )
    mail_senders_pending_max: int = Field(
        default=5,
        ge=1,
        description="Sender addresses one member may have waiting for their confirmation "
        "link (each asks spacecal to mail someone); a link goes to one address at most "
        "hourly.",
    )
    mail_keep_days: int = Field(
        default=30, ge=1, description="Days a received message is kept before it is pruned."
    )
    dns_overrides_file: Path | None = Field(
        default=None,
        description='DNS records consulted instead of the network: JSON {"name": {"TXT": '
        '["..."]}}. When set, a name it does not list has no records and no lookup is made.',
    )
    dns_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Time allowed for one DNS lookup (DKIM keys, DMARC)."
    )

    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def renewal_margin_seconds(self, provider: str) -> float:
        """The renewal margin of `provider`'s subscriptions (one setting each)."""
        margin: float = getattr(self, f"{provider}_renewal_margin_seconds")
        return margin

    def secret_key_list(self) -> list[str]:
        if not self.secret_keys:
            return []
        return [k.strip() for k in self.secret_keys.split(",") if k.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process settings, read once from the environment."""
    return Settings()


def reset_settings_cache() -> None:
    """Forget the cached settings (tests and CLI flags that change the environment)."""
    get_settings.cache_clear()
