"""HTTP face of the identity platform: ``/{tenant}/oauth2/v2.0/authorize`` and ``/token``.

The authorize page is a plain HTML form (email field, Accept and Deny buttons) that a
browser or a test can submit: ``POST`` the same path with the query's parameters as
hidden fields plus ``login`` (the member's email; unknown emails create the account)
and ``decision`` = ``accept`` | ``deny``. Accept redirects (302) to ``redirect_uri``
with ``code``, ``state`` and ``session_state``; Deny redirects with
``error=access_denied`` and an AADSTS65004 description. Problems found before the
redirect URI can be trusted (no ``client_id``/``redirect_uri``, bad ``response_type``,
PKCE method other than S256/plain) answer a 400 HTML page, as the real service does.

``GET /{tenant}/v2.0/.well-known/openid-configuration`` answers the OpenID Connect
discovery document (Microsoft identity platform, "OpenID Connect on the Microsoft
identity platform": "Find your app's OpenID configuration document URI"), with the
endpoints under the emulator's base URL; msal reads its authorize and token endpoints
there. As on the real service, ``issuer`` of the multi-tenant authorities carries the
literal ``{tenantid}`` placeholder and the id_token's ``iss`` names the real tenant;
``jwks_uri`` is listed but not served (id_tokens are unsigned, ``alg: none``). A
``nonce`` sent to authorize comes back in the id_token of that code's redemption
(OpenID Connect Core 1.0, section 3.1.3.6; msal refuses the token otherwise).

A tenant under the admin-consent-required policy (Entra's user-consent setting "Do not
allow user consent") ends a member's consent as Entra does once the member gives up at
"Need admin approval": redirected back with ``error=access_denied`` and
``AADSTS90094`` ("… needs permission to access resources in your organization that
only an admin can grant", Microsoft Entra, "Unexpected error when performing consent to
an application"); with ``prompt=none`` it is ``error=consent_required`` and
``AADSTS65001``. ``GET /{tenant}/adminconsent`` and ``/{tenant}/v2.0/adminconsent``
(Microsoft identity platform, "Admin consent on the Microsoft identity platform") show
an approval form; accepting approves the client tenant-wide and redirects with
``admin_consent=True``, ``tenant`` (and ``scope`` for v2.0) and ``state``.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .clocklike import ClockLike
from .errors import IdentityError, identity_error_response
from .identity_store import IdentityStore, normalise_scopes

_AUTH_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
    "nonce",
    "prompt",
)


def _redirect(base: str, params: dict[str, str]) -> RedirectResponse:
    sep = "&" if "?" in base else "?"
    return RedirectResponse(base + sep + urlencode(params), status_code=302)


def _problem(message: str) -> HTMLResponse:
    body = f"<html><body><h1>Sign in</h1><p id='error'>{html.escape(message)}</p></body></html>"
    return HTMLResponse(body, status_code=400)


def _check(params: dict[str, str]) -> str | None:
    if not params.get("client_id"):
        return "AADSTS900144: The request body must contain the following parameter: 'client_id'."
    if not params.get("redirect_uri"):
        return "AADSTS900144: The request must contain the following parameter: 'redirect_uri'."
    if params.get("response_type") != "code":
        return "AADSTS700054: response_type 'code' is required by this emulator."
    method = params.get("code_challenge_method")
    if params.get("code_challenge") and method and method not in ("S256", "plain"):
        return "AADSTS501491: Invalid code_challenge_method."
    return None


def _page(tenant: str, params: dict[str, str]) -> HTMLResponse:
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(params[name], quote=True)}'>"
        for name in _AUTH_FIELDS
        if params.get(name)
    )
    scopes = html.escape(" ".join(normalise_scopes(params.get("scope", ""))))
    login_hint = html.escape(params.get("login_hint", ""), quote=True)
    client = html.escape(params["client_id"])
    body = f"""<!doctype html>
<html><head><title>Sign in to your account</title></head><body>
<h1>Permissions requested</h1>
<p>App <code>{client}</code> wants: <span id="scopes">{scopes}</span></p>
<form method="post" action="/{html.escape(tenant)}/oauth2/v2.0/authorize">
{hidden}
<label>Email <input type="email" name="login" value="{login_hint}" required></label>
<button type="submit" name="decision" value="accept" id="accept">Accept</button>
<button type="submit" name="decision" value="deny" id="deny" formnovalidate>Cancel</button>
</form></body></html>"""
    return HTMLResponse(body)


def openid_configuration(base: str, tenant: str, tenant_id: str) -> dict[str, object]:
    """The discovery document of ``tenant`` (a tenant id, or common/organizations/...)."""
    login = f"{base}/{tenant}"
    shared = tenant.lower() in ("common", "organizations", "consumers")
    issuer_tenant = "{tenantid}" if shared else tenant_id
    return {
        "token_endpoint": f"{login}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{login}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"https://login.microsoftonline.com/{issuer_tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{login}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{login}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{login}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "tenant_region_scope": None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def make_identity_handlers(
    store: IdentityStore,
    clock: ClockLike,
    before_refresh: Callable[[Request, str], None] | None = None,
    base_url: str = "",
) -> dict[str, Callable[[Request], Awaitable[Response]]]:
    """Handlers keyed ``authorize_get``, ``authorize_post``, ``token``, ``openid``.

    ``before_refresh(request, refresh_token)`` runs before a refresh grant is judged
    (the emulator applies the ``revoke_refresh_token`` fault there).
    """

    async def authorize_get(request: Request) -> Response:
        params = dict(request.query_params)
        problem = _check(params)
        if problem:
            return _problem(problem)
        return _page(request.path_params["tenant"], params)

    async def authorize_post(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        problem = _check(params)
        if problem:
            return _problem(problem)
        redirect_uri = params["redirect_uri"]
        state = {"state": params["state"]} if params.get("state") else {}
        if params.get("decision") != "accept":
            return _redirect(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "AADSTS65004: User declined to consent to access the app.",
                    **state,
                },
            )
        login = params.get("login", "").strip()
        if "@" not in login:
            return _problem("AADSTS50034: The user account does not exist.")
        account = store.create_account(login)
        if store.needs_admin_consent(params["client_id"]):
            return _redirect(redirect_uri, {**_admin_required(params), **state})
        code = store.issue_code(
            account,
            params["client_id"],
            redirect_uri,
            normalise_scopes(params.get("scope", "")),
            params.get("code_challenge") or None,
            params.get("code_challenge_method")
            or ("plain" if params.get("code_challenge") else None),
            nonce=params.get("nonce") or None,
        )
        return _redirect(redirect_uri, {"code": code, **state, "session_state": account.user_id})

    async def admin_consent_get(request: Request) -> Response:
        params = dict(request.query_params)
        if not params.get("client_id") or not params.get("redirect_uri"):
            return _problem("AADSTS900144: 'client_id' and 'redirect_uri' are required.")
        return _admin_page(request.url.path, params)

    async def admin_consent_post(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        if not params.get("client_id") or not params.get("redirect_uri"):
            return _problem("AADSTS900144: 'client_id' and 'redirect_uri' are required.")
        state = {"state": params["state"]} if params.get("state") else {}
        if params.get("decision") != "accept":
            return _redirect(
                params["redirect_uri"],
                {
                    "error": "access_denied",
                    "error_description": "AADSTS65004: User declined to consent to access the app.",
                    **state,
                },
            )
        store.admin_consented.add(params["client_id"])
        scope = {"scope": params["scope"]} if params.get("scope") else {}
        answer = {"admin_consent": "True", "tenant": store.tenant_id, **scope, **state}
        return _redirect(params["redirect_uri"], answer)

    async def openid(request: Request) -> Response:
        base = base_url or str(request.base_url).rstrip("/")
        tenant = request.path_params["tenant"]
        return JSONResponse(openid_configuration(base, tenant, store.tenant_id))

    async def token(request: Request) -> Response:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        if before_refresh is not None and params.get("grant_type") == "refresh_token":
            before_refresh(request, params.get("refresh_token", ""))
        try:
            body = _token(store, params)
        except IdentityError as exc:
            return identity_error_response(exc, clock.now())
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return {
        "authorize_get": authorize_get,
        "authorize_post": authorize_post,
        "token": token,
        "openid": openid,
        "admin_consent_get": admin_consent_get,
        "admin_consent_post": admin_consent_post,
    }


def _admin_required(params: dict[str, str]) -> dict[str, str]:
    client = params["client_id"]
    if params.get("prompt") == "none":
        return {
            "error": "consent_required",
            "error_description": "AADSTS65001: The user or administrator has not consented "
            f"to use the application with ID '{client}'. Send an interactive authorization "
            "request for this user and resource.",
        }
    return {
        "error": "access_denied",
        "error_description": f"AADSTS90094: The app '{client}' needs permission to access "
        "resources in your organization that only an admin can grant. Please ask an admin "
        "to grant permission to this app before you can use it.",
    }


def _admin_page(path: str, params: dict[str, str]) -> HTMLResponse:
    fields = ("client_id", "redirect_uri", "scope", "state")
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(params[name], quote=True)}'>"
        for name in fields
        if params.get(name)
    )
    body = f"""<!doctype html>
<html><head><title>Permissions requested</title></head><body>
<h1>Permissions requested: accept for your organization</h1>
<p>App <code>{html.escape(params["client_id"])}</code></p>
<form method="post" action="{html.escape(path, quote=True)}">
{hidden}
<label>Administrator email <input type="email" name="login" required></label>
<button type="submit" name="decision" value="accept" id="accept">Accept</button>
<button type="submit" name="decision" value="deny" id="deny" formnovalidate>Cancel</button>
</form></body></html>"""
    return HTMLResponse(body)


def _token(store: IdentityStore, params: dict[str, str]) -> dict[str, object]:
    client_id = params.get("client_id", "")
    if not client_id:
        raise IdentityError(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        )
    grant_type = params.get("grant_type", "")
    if grant_type == "authorization_code":
        for name in ("code", "redirect_uri"):
            if not params.get(name):
                raise IdentityError(
                    "invalid_request",
                    900144,
                    f"The request body must contain the following parameter: '{name}'.",
                )
        return store.redeem_code(
            params["code"], client_id, params["redirect_uri"], params.get("code_verifier")
        )
    if grant_type == "refresh_token":
        if not params.get("refresh_token"):
            raise IdentityError(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'refresh_token'.",
            )
        return store.refresh(params["refresh_token"], client_id)
    raise IdentityError(
        "unsupported_grant_type",
        70003,
        f"The app requested an unsupported grant type '{grant_type}'.",
    )
