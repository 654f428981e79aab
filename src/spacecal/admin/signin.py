"""Sign-in and sign-out of the console, for API users.

The password is checked by the API's own `verify_login` (argon2, timing-safe for
unknown emails) under the API's sign-in limiter and gate, so guessing through the
console and through `/api/token` or Basic counts against one budget. A successful
sign-in sets the console's session cookie (HttpOnly, SameSite=Lax, Path=/admin, Secure
under https), good for the user's current generation: sign-out, a password change,
deactivation or token revocation ends every session of theirs. The form itself carries
a double-submit CSRF token, so nobody can sign a browser into someone else's session.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from spacecal.admin.access import Problem
from spacecal.admin.runtime import AdminRuntime, runtime
from spacecal.admin.views import redirect, render
from spacecal.records.errors import ApiError
from spacecal.web.auth import client_address
from spacecal.web.sessions import CsrfRejected, Session

router = APIRouter(prefix="/admin", include_in_schema=False)

FORM_REJECTED = (
    "This form was not accepted: it has expired or was not sent from this site. "
    "Go back, reload the page and try again."
)


async def checked_form(
    rt: AdminRuntime, request: Request, session: Session | None
) -> dict[str, str]:
    """The POSTed form after its CSRF check; a 403 problem page otherwise."""
    try:
        return await rt.sessions.check_csrf(request, session)
    except CsrfRejected:
        raise Problem(FORM_REJECTED, status=403) from None


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    rt = runtime(request)
    if await rt.current_user(request) is None:
        return redirect("/admin/signin")
    return redirect("/admin/connections")


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    rt = runtime(request)
    if await rt.current_user(request) is not None:
        return redirect("/admin/connections")
    return render(rt, request, "signin.html", {"email": ""})


@router.post("/signin")
async def signin(request: Request) -> Response:
    rt = runtime(request)
    form = await checked_form(rt, request, None)
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")
    if not email or not password:
        return render(
            rt,
            request,
            "signin.html",
            {"email": email, "form_error": "Enter both your email and your password."},
            status=400,
        )
    try:
        principal = await rt.auth.verify_login(email, password, client_address(request))
    except ApiError as exc:
        if exc.status in (429, 503):
            text = (
                "Too many sign-in attempts. Wait a few minutes and try again; "
                "an administrator can reset your password with `spacecal users set-password`."
                if exc.status == 429
                else "The console is busy checking sign-ins. Try again in a moment."
            )
            answer = render(
                rt, request, "signin.html", {"email": email, "form_error": text}, status=exc.status
            )
            if exc.headers and "Retry-After" in exc.headers:
                answer.headers["Retry-After"] = exc.headers["Retry-After"]
            return answer
        return render(
            rt,
            request,
            "signin.html",
            {
                "email": email,
                "form_error": "The email or password is not right. Check both and try again.",
            },
            status=400,
        )
    response = redirect("/admin/connections")
    rt.sessions.start(response, principal.user_id, principal.generation)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    rt = runtime(request)
    session = rt.sessions.read(request)
    if session is not None:
        await checked_form(rt, request, session)
        if await rt.current_user(request) is not None:
            # Every console session of this user ends, copies of this cookie included.
            await rt.end_sessions(session.coworker_id)
    # Signed out already (the session expired): nothing to protect, just say so.
    response = redirect("/admin/signin", notice="signed_out")
    rt.sessions.end(response)
    return response
