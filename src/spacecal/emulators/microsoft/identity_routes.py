"""HTTP face of the identity platform: ``/{tenant}/oauth2/v2.0/authorize`` and ``/token``.

The authorize page is a plain HTML form (email field, Accept and Deny buttons) that a
browser or a test can submit: ``POST`` the same path with the query's parameters as
hidden fields plus ``login`` (the member's email; unknown emails create the account)
and ``decision`` = ``accept`` | ``deny``. Accept redirects (302) to ``redirect_uri``
with ``code``, ``state`` and ``session_state``; Deny redirects with
``error=access_denied`` and an AADSTS65004 description. Problems found before the
redirect URI can be trusted (no ``client_id``/``redirect_uri``, bad ``response_type``,
PKCE method other than S256/plain) answer a 400 HTML page, as the real service does.
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


def make_identity_handlers(
    store: IdentityStore,
    clock: ClockLike,
    before_refresh: Callable[[Request, str], None] | None = None,
) -> dict[str, Callable[[Request], Awaitable[Response]]]:
    """Handlers keyed ``authorize_get``, ``authorize_post``, ``token``.

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
        code = store.issue_code(
            account,
            params["client_id"],
            redirect_uri,
            normalise_scopes(params.get("scope", "")),
            params.get("code_challenge") or None,
            params.get("code_challenge_method")
            or ("plain" if params.get("code_challenge") else None),
        )
        return _redirect(redirect_uri, {"code": code, **state, "session_state": account.user_id})

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

    return {"authorize_get": authorize_get, "authorize_post": authorize_post, "token": token}


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
