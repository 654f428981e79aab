"""The OAuth connect flow: authorization code with PKCE and a single-use state.

The state is random, stored hashed with the PKCE verifier (encrypted), bound to the
signed-in member and short-lived. The callback consumes it in one UPDATE, so a replay,
a forged or expired state, or another member's state finds nothing and creates nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import delete, insert, update

from spacecal import clock
from spacecal.db.models import OAuthState
from spacecal.portal.runtime import PortalRuntime
from spacecal.providers.base import ProviderError
from spacecal.sync.accounts import consent
from spacecal.sync.accounts.setup_rows import ProvisioningFailed


class ConnectOutcome(StrEnum):
    """Why a callback ended; each has a sentence in `pages.MESSAGES`."""

    CONNECTED = "connected"
    DENIED = "denied"
    BAD_STATE = "bad_state"
    PROVIDER_ERROR = "provider_error"
    NO_OFFLINE = "no_offline"
    ADMIN_CONSENT = "admin_consent"  # the member's organisation lets only admins consent


def s256_code_challenge(verifier: str) -> str:
    """PKCE's S256 challenge (RFC 7636 §4.2): BASE64URL(SHA256(verifier)), unpadded.

    Written here rather than taken from Authlib: it was the only thing spacecal used
    of it (the token grant, refresh and revoke are plain HTTP in providers/http.py)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _hash(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


async def start_connect(rt: PortalRuntime, coworker_id: int, provider: str) -> str:
    """Record a connect attempt and return the provider's authorization URL."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    now = clock.now()
    async with rt.db.engine.begin() as conn:
        # Old attempts are worthless once expired; keep the table small.
        await conn.execute(delete(OAuthState).where(OAuthState.expires_at < now))
        await conn.execute(
            insert(OAuthState).values(
                state_hash=_hash(state),
                coworker_id=coworker_id,
                provider=provider,
                code_verifier_enc=rt.db.cipher.encrypt(verifier),
                created_at=now,
                expires_at=now + timedelta(minutes=rt.settings.oauth_state_minutes),
            )
        )
    return rt.provider(provider).authorize_url(
        state=state,
        code_challenge=s256_code_challenge(verifier),
        redirect_uri=rt.redirect_uri(provider),
    )


async def _consume_state(
    rt: PortalRuntime, coworker_id: int, provider: str, state: str
) -> str | None:
    """The PKCE verifier of a valid, unused state of this member; None otherwise."""
    now = clock.now()
    async with rt.db.engine.begin() as conn:
        verifier_enc = await conn.scalar(
            update(OAuthState)
            .where(
                OAuthState.state_hash == _hash(state),
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
                OAuthState.coworker_id == coworker_id,
                OAuthState.provider == provider,
            )
            .values(used_at=now)
            .returning(OAuthState.code_verifier_enc)
        )
    if verifier_enc is None:
        return None
    return rt.db.cipher.decrypt(verifier_enc)


async def finish_connect(
    rt: PortalRuntime, coworker_id: int, provider: str, params: dict[str, str]
) -> ConnectOutcome:
    """Handle the provider's redirect back; the account is stored only on success."""
    state = params.get("state", "")
    verifier = await _consume_state(rt, coworker_id, provider, state) if state else None
    if verifier is None:
        return ConnectOutcome.BAD_STATE
    if params.get("error"):
        if rt.provider(provider).needs_admin_consent(params):
            return ConnectOutcome.ADMIN_CONSENT
        return (
            ConnectOutcome.DENIED
            if params["error"] == "access_denied"
            else ConnectOutcome.PROVIDER_ERROR
        )
    code = params.get("code")
    if not code:
        return ConnectOutcome.PROVIDER_ERROR
    adapter = rt.provider(provider)
    try:
        tokens, identity = await adapter.exchange_code(
            code=code, code_verifier=verifier, redirect_uri=rt.redirect_uri(provider)
        )
    except ProviderError:
        return ConnectOutcome.PROVIDER_ERROR
    prov = rt.provisioner
    try:
        account_id = await consent.save_account(prov, coworker_id, provider, tokens, identity)
    except ProvisioningFailed:
        return ConnectOutcome.NO_OFFLINE
    # A reconnect: the calendars made before are watched again, not made twice.
    await consent.reattach(prov, account_id)
    return ConnectOutcome.CONNECTED
