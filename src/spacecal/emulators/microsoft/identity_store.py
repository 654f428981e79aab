"""Accounts, consents, authorization codes and tokens of the emulated identity platform.

Rules chosen (documented for the client engineers):

* Any ``client_id`` is accepted; a ``client_secret`` is not checked. Codes, refresh and
  access tokens are bound to the client that obtained them.
* Authorization codes live 10 minutes and redeem once (``AADSTS54005`` on reuse).
  PKCE: ``S256`` and ``plain``; a wrong or missing verifier is ``AADSTS501481``.
* A refresh token is only issued when ``offline_access`` was granted. Every refresh
  answers a NEW refresh token (rotation). Like the real service, the previous one
  keeps working until the emulator is told ``invalidate_old_refresh_tokens`` (then only
  the newest of each grant works: ``AADSTS50173``), or ``strict_rotation`` is on (a
  used refresh token dies as soon as it is redeemed).
* Revoking consent kills every refresh and access token of that grant
  (``AADSTS65001`` on refresh; Graph answers 401 to the access tokens).
* A tenant under the admin-consent-required policy (``admin_consent_required``; the
  user-consent setting "Do not allow user consent") refuses every user's consent to a
  client that no administrator approved tenant-wide; the admin-consent endpoint
  approves it (``admin_consented``), after which users connect as usual.
* Access tokens live ``access_token_lifetime`` (default 3600 s) on the emulator clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .clocklike import ClockLike
from .errors import IdentityError
from .ids import IdFactory

CODE_LIFETIME = timedelta(minutes=10)


@dataclass
class Account:
    user_id: str
    email: str
    display_name: str
    tenant_id: str
    consents: dict[str, set[str]] = field(default_factory=dict)  # client_id -> scopes


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    user_id: str
    challenge: str | None
    challenge_method: str | None
    expires: datetime
    redeemed: bool = False
    nonce: str | None = None


@dataclass
class RefreshGrant:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    serial: int
    valid: bool = True


@dataclass
class AccessGrant:
    token: str
    client_id: str
    user_id: str
    scopes: list[str]
    expires: datetime
    valid: bool = True


def normalise_scopes(raw: str) -> list[str]:
    """Split a scope string, drop the Graph resource prefix, keep order, dedupe."""
    out: list[str] = []
    for item in raw.split():
        name = item.removeprefix("https://graph.microsoft.com/")
        if name and name not in out:
            out.append(name)
    return out


def has_scope(scopes: list[str], wanted: str) -> bool:
    return wanted.lower() in {s.lower() for s in scopes}


class IdentityStore:
    """All identity state; pure Python, no HTTP (the routes live in ``identity_routes``)."""

    def __init__(self, ids: IdFactory, clock: ClockLike, tenant_id: str) -> None:
        self._ids = ids
        self._clock = clock
        self.tenant_id = tenant_id
        self.accounts: dict[str, Account] = {}  # user_id -> account
        self._codes: dict[str, AuthCode] = {}
        self._refresh: dict[str, RefreshGrant] = {}
        self._access: dict[str, AccessGrant] = {}
        self._serial = 0
        self.access_token_lifetime = timedelta(hours=1)
        self.strict_rotation = False
        # The tenant's consent policy: users may not consent on their own, only an
        # administrator (through the admin-consent endpoint) for the whole tenant.
        self.admin_consent_required = False
        self.admin_consented: set[str] = set()  # client ids approved tenant-wide

    def needs_admin_consent(self, client_id: str) -> bool:
        return self.admin_consent_required and client_id not in self.admin_consented

    # -- accounts ---------------------------------------------------------------
    def account_by_email(self, email: str) -> Account | None:
        wanted = email.strip().lower()
        for account in self.accounts.values():
            if account.email.lower() == wanted:
                return account
        return None

    def create_account(self, email: str, display_name: str | None = None) -> Account:
        existing = self.account_by_email(email)
        if existing is not None:
            return existing
        name = display_name or email.split("@", 1)[0].replace(".", " ").title()
        account = Account(self._ids.uuid(), email.strip(), name, self.tenant_id)
        self.accounts[account.user_id] = account
        return account

    def require_account(self, email: str) -> Account:
        account = self.account_by_email(email)
        if account is None:
            raise KeyError(f"no account {email!r}")
        return account

    # -- authorization codes ----------------------------------------------------------
    def issue_code(
        self,
        account: Account,
        client_id: str,
        redirect_uri: str,
        scopes: list[str],
        challenge: str | None,
        challenge_method: str | None,
        *,
        nonce: str | None = None,
    ) -> str:
        account.consents.setdefault(client_id, set()).update(scopes)
        code = self._ids.token("0.AQ-code.", 96)
        self._codes[code] = AuthCode(
            code,
            client_id,
            redirect_uri,
            scopes,
            account.user_id,
            challenge,
            challenge_method,
            self._clock.now() + CODE_LIFETIME,
            nonce=nonce,
        )
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str, verifier: str | None
    ) -> dict[str, object]:
        grant = self._codes.get(code)
        if grant is None:
            raise IdentityError("invalid_grant", 70000, "Provided grant is invalid or malformed.")
        if grant.redeemed:
            raise IdentityError(
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, "
                "please retry with a new valid code or use an existing refresh token.",
            )
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            raise IdentityError(
                "invalid_grant",
                50148 if grant.client_id == client_id else 70000,
                "The redirect URI specified in the request does not match the redirect URI "
                "configured for the authorization code."
                if grant.client_id == client_id
                else "Provided grant is invalid or malformed.",
            )
        if self._clock.now() > grant.expires:
            raise IdentityError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token "
                "has expired due to inactivity. Send a new interactive authorization request "
                "for this user and resource.",
            )
        if grant.challenge is not None and not _pkce_ok(
            grant.challenge, grant.challenge_method or "plain", verifier
        ):
            raise IdentityError(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        grant.redeemed = True
        account = self.accounts[grant.user_id]
        return self.mint(account, client_id, grant.scopes, nonce=grant.nonce)

    # -- refresh -------------------------------------------------------------------------
    def refresh(self, token: str, client_id: str) -> dict[str, object]:
        grant = self._refresh.get(token)
        if grant is None or grant.client_id != client_id:
            raise IdentityError(
                "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        account = self.accounts[grant.user_id]
        if client_id not in account.consents:
            raise IdentityError(
                "invalid_grant",
                65001,
                "The user or administrator has not consented to use "
                f"the application with ID '{client_id}'. Send an interactive authorization "
                "request for this user and resource.",
            )
        if not grant.valid:
            raise IdentityError(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being "
                "revoked, a fresh auth token is needed. The user might have changed or reset "
                "their password.",
            )
        if self.strict_rotation:
            grant.valid = False
        return self.mint(account, client_id, grant.scopes)

    def invalidate_old_refresh_tokens(self, email: str) -> int:
        """Keep only the newest refresh token of each (account, client); return how many died."""
        account = self.require_account(email)
        newest: dict[str, int] = {}
        for grant in self._refresh.values():
            if grant.user_id == account.user_id and grant.valid:
                newest[grant.client_id] = max(newest.get(grant.client_id, -1), grant.serial)
        killed = 0
        for grant in self._refresh.values():
            if (
                grant.user_id == account.user_id
                and grant.valid
                and grant.serial != newest[grant.client_id]
            ):
                grant.valid = False
                killed += 1
        return killed

    def revoke_refresh_token(self, token: str) -> str | None:
        """Revoke one refresh token; returns the owner's email (None if unknown)."""
        grant = self._refresh.get(token)
        if grant is None:
            return None
        grant.valid = False
        return self.accounts[grant.user_id].email

    def owner_of_refresh_token(self, token: str) -> str | None:
        grant = self._refresh.get(token)
        return self.accounts[grant.user_id].email if grant else None

    def revoke_consent(self, email: str, client_id: str | None = None) -> None:
        """The member removes the app from their account (all clients when ``None``)."""
        account = self.require_account(email)
        clients = [client_id] if client_id else list(account.consents)
        for cid in clients:
            account.consents.pop(cid, None)
        grants: list[RefreshGrant | AccessGrant] = [*self._refresh.values(), *self._access.values()]
        for grant in grants:
            if grant.user_id == account.user_id and grant.client_id in clients:
                grant.valid = False

    # -- minting and checking ----------------------------------------------------------
    def mint(
        self, account: Account, client_id: str, scopes: list[str], *, nonce: str | None = None
    ) -> dict[str, object]:
        """A token response body (what the token endpoint answers); ``nonce`` is the one
        the authorize request carried (redemptions of a code only)."""
        account.consents.setdefault(client_id, set()).update(scopes)
        now = self._clock.now()
        access = self._ids.token("eyJ0eXAiOiJKV1QiLCJub25jZSI6.", 96)
        self._access[access] = AccessGrant(
            access, client_id, account.user_id, scopes, now + self.access_token_lifetime
        )
        lifetime = int(self.access_token_lifetime.total_seconds())
        body: dict[str, object] = {
            "token_type": "Bearer",
            "scope": " ".join(s for s in scopes if s.lower() != "offline_access"),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access,
        }
        if has_scope(scopes, "offline_access"):
            self._serial += 1
            refresh = self._ids.token("1.AQ-rt.", 120)
            self._refresh[refresh] = RefreshGrant(
                refresh, client_id, account.user_id, scopes, self._serial
            )
            body["refresh_token"] = refresh
        if has_scope(scopes, "openid"):
            body["id_token"] = _id_token(account, client_id, now, lifetime, nonce)
        return body

    def authenticate(self, bearer: str) -> AccessGrant | None:
        """The live access grant for a bearer token, or ``None`` (expired, revoked, unknown)."""
        grant = self._access.get(bearer)
        if grant is None or not grant.valid or self._clock.now() >= grant.expires:
            return None
        return grant

    def is_expired(self, bearer: str) -> bool:
        """True when the token was ours and is only past its lifetime (not revoked)."""
        grant = self._access.get(bearer)
        return grant is not None and grant.valid and self._clock.now() >= grant.expires

    def expire_access_tokens(self, email: str) -> None:
        """Make every access token of the account expire now (forces a refresh)."""
        account = self.require_account(email)
        for grant in self._access.values():
            if grant.user_id == account.user_id:
                grant.expires = self._clock.now()


def _pkce_ok(challenge: str, method: str, verifier: str | None) -> bool:
    if not verifier:
        return False
    if method.upper() == "S256":
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=") == challenge
    return verifier == challenge


def _id_token(
    account: Account, client_id: str, now: datetime, lifetime: int, nonce: str | None
) -> str:
    """An unsigned (``alg: none``) JWT with the usual v2.0 claims; enough for display."""

    def seg(obj: dict[str, object]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    iat = int(now.timestamp())
    claims: dict[str, object] = {
        "aud": client_id,
        "iss": f"https://login.microsoftonline.com/{account.tenant_id}/v2.0",
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "name": account.display_name,
        "oid": account.user_id,
        "preferred_username": account.email,
        "email": account.email,
        "sub": hashlib.sha256(f"{account.user_id}|{client_id}".encode()).hexdigest()[:43],
        "tid": account.tenant_id,
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return f"{seg({'typ': 'JWT', 'alg': 'none'})}.{seg(claims)}."
