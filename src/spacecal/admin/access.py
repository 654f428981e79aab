"""Who may do what in the admin console.

The console reuses the records API's roles, so one user setup serves both: the
connection records' `List` role opens the connection list and the activity chart for
that provider, `Read` one connection's page, `Edit` its resync and renew buttons and
`Delete` its disconnect button. A full admin may do everything. A user holding the
roles of one provider only sees that provider's connections and activity.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDERS = ("google", "microsoft", "caldav")
PROVIDER_LABELS = {"google": "Google Calendar", "microsoft": "Microsoft 365", "caldav": "CalDAV"}
RECORD_OF = {
    "google": "CoworkerGoogleCalendar",
    "microsoft": "CoworkerMsOfficeCalendar",
    "caldav": "CoworkerCalDavCalendar",
}


def role(provider: str, operation: str) -> str:
    return f"{RECORD_OF[provider]}-{operation}"


@dataclass(frozen=True)
class AdminUser:
    """A signed-in API user, re-read from the database on every request (so a role
    taken away or a user deactivated takes effect at once)."""

    id: int
    email: str
    roles: frozenset[str]
    full_admin: bool

    def may(self, provider: str, operation: str) -> bool:
        if provider not in RECORD_OF:
            return False
        return self.full_admin or role(provider, operation) in self.roles

    def providers(self, operation: str) -> tuple[str, ...]:
        """The providers this user may `operation` (List, Read, Edit, Delete)."""
        return tuple(p for p in PROVIDERS if self.may(p, operation))


class Problem(Exception):
    """Answered with the console's problem page: `status` and a message that says what
    happened and what to do."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Denied(Problem):
    """The signed-in user lacks the role a page or button needs."""

    status = 403


def need(user: AdminUser, provider: str, operation: str) -> None:
    if not user.may(provider, operation):
        raise Denied(
            f"This needs the {role(provider, operation)} role (or a full unrestricted "
            f"administrator). You are signed in as {user.email}; ask an administrator "
            "to grant the role with `spacecal users create … --role …`."
        )


def need_any(user: AdminUser, operation: str) -> tuple[str, ...]:
    """The providers the user may `operation`; Denied when none."""
    allowed = user.providers(operation)
    if not allowed:
        wanted = " or ".join(role(p, operation) for p in PROVIDERS)
        raise Denied(
            f"This page needs the {wanted} role (or a full unrestricted administrator). "
            f"You are signed in as {user.email}; ask an administrator to grant it."
        )
    return allowed
