"""Tenant-wide admin consent: knowing that Entra refused a member's own consent, and
the URL an administrator opens to approve spacecal for the whole organisation.

Entra answers a member whose organisation does not let users consent (its default
user-consent policy for many tenants, or "Do not allow user consent") by redirecting
back with ``AADSTS90094`` (or ``AADSTS90093`` when a policy names the app) in
``error_description``, or with ``error=consent_required`` / ``AADSTS65001`` when no
prompt could be shown (Microsoft Entra, "Unexpected error when performing consent to
an application"). The cure is the admin-consent endpoint (Microsoft identity platform,
"Admin consent on the Microsoft identity platform"):
``{login}/{tenant}/v2.0/adminconsent?client_id=…&scope=…&redirect_uri=…``.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

# What only an administrator may grant in such a tenant, in the endpoint's words.
ADMIN_SCOPES = (
    "openid",
    "email",
    "offline_access",
    "https://graph.microsoft.com/User.Read",
    "https://graph.microsoft.com/Calendars.ReadWrite",
)
_ADMIN_CODES = ("AADSTS90094", "AADSTS90093", "AADSTS65001")


def needs_admin_consent(params: Mapping[str, str]) -> bool:
    """Whether an authorize redirect says the member's organisation requires an admin."""
    if params.get("error") == "consent_required":
        return True
    description = params.get("error_description", "")
    return any(code in description for code in _ADMIN_CODES)


def admin_consent_url(login_base: str, tenant: str, client_id: str, redirect_uri: str) -> str:
    # A shared authority is not a tenant an admin can approve for: "organizations" lets
    # the administrator's own sign-in choose the tenant.
    if tenant.lower() in ("common", "consumers"):
        tenant = "organizations"
    query = {"client_id": client_id, "scope": " ".join(ADMIN_SCOPES), "redirect_uri": redirect_uri}
    return f"{login_base.rstrip('/')}/{tenant}/v2.0/adminconsent?{urlencode(query)}"
