"""Google OAuth endpoints: the consent page, the token endpoint, revocation, userinfo.

Rules chosen (Google's OAuth 2.0 web-server and PKCE documentation):
- authorize: an unknown `client_id` (401 invalid_client) or an unregistered
  `redirect_uri` (400 redirect_uri_mismatch) shows an error page and never redirects;
  other request errors redirect with `error=` and the `state`;
- the consent form posts `request_id`, `email` and `decision` (allow | deny) to
  `/o/oauth2/v2/auth/decision`; deny redirects with `error=access_denied`; an email
  never seen before becomes a new account with its primary calendar (handy for demos);
- a refresh token is issued only with `access_type=offline`, and only on the first
  consent of that account to that client, unless `prompt=consent` is given;
- codes live 10 minutes and are single-use; PKCE `S256` and `plain` are checked;
- refresh tokens do not rotate; a dead one answers 400 `invalid_grant` "Token has
  been expired or revoked."; revoking an access or a refresh token revokes the grant.
"""

from __future__ import annotations

import base64
import hashlib
import html
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from spacecal.emulators.common import FaultKind, set_call_account
from spacecal.emulators.google import auth
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.errors import oauth_error
from spacecal.emulators.google.ops import Stamp
from spacecal.emulators.google.state import Account, AuthCode, Calendar, PendingAuthorization

AUTHORIZE_PATH = "/o/oauth2/v2/auth"
TOKEN_PATH = "/token"  # noqa: S105 (a path)
REVOKE_PATH = "/revoke"
USERINFO_PATH = "/oauth2/v3/userinfo"


def ensure_account(
    ctx: GoogleContext, email: str, name: str | None = None, time_zone: str = "UTC"
) -> Account:
    """The account, made with its primary calendar (id = email) when first seen: every
    Google account has one, whether it first appears on the consent page or through
    the control API (a `calendar.app.created` token still cannot see it)."""
    account = ctx.store.accounts.get(email)
    if account is None:
        account = Account(email, ctx.core.rng.chars("0123456789", 21), name or email)
        ctx.store.accounts[email] = account
    if email not in ctx.store.calendars:
        ctx.store.calendars[email] = Calendar(
            id=email,
            owner=email,
            summary=email,
            time_zone=time_zone,
            description=None,
            location=None,
            created_by_client=None,
            etag=Stamp(ctx).etag,
            resource_id=ctx.core.rng.token(27),
            primary=True,
        )
    return account


def _error_page(status: int, error: str, detail: str) -> HTMLResponse:
    body = (
        f"<!doctype html><title>Error {status}: {html.escape(error)}</title>"
        f"<h1>Error {status}: {html.escape(error)}</h1><p>{html.escape(detail)}</p>"
    )
    return HTMLResponse(body, status_code=status)


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=302)


def _consent_page(ctx: GoogleContext, pending: PendingAuthorization) -> HTMLResponse:
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in sorted(pending.scopes))
    known = "".join(
        f'<option value="{html.escape(email)}">' for email in sorted(ctx.store.accounts)
    )
    hint = html.escape(pending.login_hint or "")
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in - Google Accounts (emulator)</title></head>
<body><h1>Choose an account</h1>
<p>{html.escape(pending.client_id)} wants to access your Google Account:</p><ul>{scopes}</ul>
<form method="post" action="{AUTHORIZE_PATH}/decision">
<input type="hidden" name="request_id" value="{html.escape(pending.id)}">
<label>Email <input type="email" name="email" id="email" list="accounts" value="{hint}"
 required></label><datalist id="accounts">{known}</datalist>
<button type="submit" name="decision" value="allow" id="allow">Allow</button>
<button type="submit" name="decision" value="deny" id="deny" formnovalidate>Deny</button>
</form></body></html>"""
    return HTMLResponse(body)


def _pkce_ok(verifier: str, challenge: str, method: str | None) -> bool:
    if (method or "plain") == "plain":
        return verifier == challenge
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def oauth_router(ctx: GoogleContext) -> APIRouter:
    router = APIRouter()
    store = ctx.store

    @router.get(AUTHORIZE_PATH)
    def authorize(request: Request) -> Response:
        q = request.query_params
        client = store.clients.get(q.get("client_id", ""))
        if client is None:
            return _error_page(401, "invalid_client", "The OAuth client was not found.")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_uri or (
            "*" not in client.redirect_uris and redirect_uri not in client.redirect_uris
        ):
            return _error_page(400, "redirect_uri_mismatch", f"redirect_uri={redirect_uri}")
        state = q.get("state")
        if q.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state})
        scopes = auth.normalise_scopes(q.get("scope"))
        if not scopes:
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
        method = q.get("code_challenge_method")
        challenge = q.get("code_challenge")
        if challenge is not None and (method or "plain") not in ("S256", "plain"):
            return _redirect(redirect_uri, {"error": "invalid_request", "state": state})
        pending = PendingAuthorization(
            id=ctx.core.rng.token(24),
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            code_challenge=challenge,
            code_challenge_method=method if challenge is not None else None,
            offline=q.get("access_type") == "offline",
            prompt_consent="consent" in (q.get("prompt") or "").split(),
            nonce=q.get("nonce"),
            login_hint=q.get("login_hint"),
        )
        store.pending[pending.id] = pending
        return _consent_page(ctx, pending)

    @router.post(AUTHORIZE_PATH + "/decision")
    async def decide(request: Request) -> Response:
        form = await request.form()
        pending = store.pending.pop(str(form.get("request_id", "")), None)
        if pending is None:
            return _error_page(400, "invalid_request", "This sign-in request has expired.")
        if form.get("decision") != "allow":
            return _redirect(
                pending.redirect_uri, {"error": "access_denied", "state": pending.state}
            )
        email = str(form.get("email", "")).strip().lower()
        if "@" not in email:
            return _error_page(400, "invalid_request", "An email address is required.")
        ensure_account(ctx, email)
        code = issue_code(ctx, pending, email)
        return _redirect(
            pending.redirect_uri,
            {"state": pending.state, "code": code, "scope": " ".join(sorted(pending.scopes))},
        )

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                raw = base64.b64decode(basic[6:].strip()).decode()
            except ValueError:
                return oauth_error(401, "invalid_client", "Unauthorized")
            client_id, _, secret = raw.partition(":")
        client = store.clients.get(client_id or "")
        if client is None or client.client_secret != secret:
            return oauth_error(401, "invalid_client", "Unauthorized")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return _code_grant(ctx, request, form, client.client_id)
        if grant_type == "refresh_token":
            return _refresh_grant(ctx, request, form, client.client_id)
        return oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    @router.post(REVOKE_PATH)
    async def revoke(request: Request) -> Response:
        form = await request.form()
        value = str(form.get("token") or request.query_params.get("token") or "")
        grant = store.refresh_tokens.get(value)
        if grant is None and value in store.access_tokens:
            grant = store.access_tokens[value].grant
        if grant is None or grant.revoked:
            return oauth_error(400, "invalid_token", "Token expired or revoked")
        set_call_account(request.scope, grant.email)
        auth.revoke_grant(ctx, grant)
        return JSONResponse({})

    @router.get(USERINFO_PATH)
    def userinfo(request: Request) -> Response:
        caller = auth.authenticate(ctx, request.headers.get("authorization"), ctx.core.clock.now())
        account = store.accounts[caller.email]
        return JSONResponse(
            {
                "sub": account.sub,
                "email": account.email,
                "email_verified": True,
                "name": account.name,
            }
        )

    return router


def issue_code(ctx: GoogleContext, pending: PendingAuthorization, email: str) -> str:
    grant = auth.new_grant(ctx, email, pending.client_id, pending.scopes)
    issue_refresh = pending.offline and (
        pending.prompt_consent or not auth.has_live_refresh_token(ctx, email, pending.client_id)
    )
    code = "4/" + ctx.core.rng.token(70)
    ctx.store.codes[code] = AuthCode(
        code=code,
        grant=grant,
        redirect_uri=pending.redirect_uri,
        code_challenge=pending.code_challenge,
        code_challenge_method=pending.code_challenge_method,
        issue_refresh=issue_refresh,
        nonce=pending.nonce,
        expires_at=ctx.core.clock.now() + ctx.settings.code_ttl,
    )
    return code


def _code_grant(
    ctx: GoogleContext, request: Request, form: dict[str, str], client_id: str
) -> Response:
    code = ctx.store.codes.get(form.get("code", ""))
    now = ctx.core.clock.now()
    if code is None or code.used or code.expires_at <= now or code.grant.client_id != client_id:
        return oauth_error(400, "invalid_grant", "Bad Request")
    set_call_account(request.scope, code.grant.email)
    if form.get("redirect_uri") != code.redirect_uri:
        return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
    if code.code_challenge is not None:
        verifier = form.get("code_verifier")
        if not verifier:
            return oauth_error(400, "invalid_grant", "Missing code verifier.")
        if not _pkce_ok(verifier, code.code_challenge, code.code_challenge_method):
            return oauth_error(400, "invalid_grant", "Invalid code verifier.")
    code.used = True
    grant = code.grant
    body = auth.issue_access_token(ctx, grant)
    if code.issue_refresh:
        body["refresh_token"] = auth.issue_refresh_token(ctx, grant)
    if "openid" in grant.scopes:
        account = ctx.store.accounts[grant.email]
        body["id_token"] = auth.id_token(ctx, account, client_id, code.nonce)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _refresh_grant(
    ctx: GoogleContext, request: Request, form: dict[str, str], client_id: str
) -> Response:
    value = form.get("refresh_token", "")
    grant = ctx.store.refresh_tokens.get(value)
    if grant is not None:
        set_call_account(request.scope, grant.email)
        fault = ctx.core.faults.draw(
            FaultKind.REVOKE_REFRESH_TOKEN,
            method="POST",
            path=request.url.path,
            account=grant.email,
        )
        if fault is not None:
            auth.revoke_grant(ctx, grant)
    if grant is None or grant.revoked:
        return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
    if grant.client_id != client_id:
        return oauth_error(400, "unauthorized_client", "Unauthorized")
    body = auth.issue_access_token(ctx, grant)
    if "openid" in grant.scopes:
        body["id_token"] = auth.id_token(ctx, ctx.store.accounts[grant.email], client_id, None)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
