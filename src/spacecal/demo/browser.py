"""A browser-like HTTP client for the demo's set-up: it signs the member in to the
portal and connects her accounts through the emulators' consent pages, over real
HTTP on loopback.

Why not insert the accounts straight into the database: the demo should show the
code paths a member uses (sign-in, CSRF, PKCE, the OAuth callback, provisioning of
the resource calendar and its push channel), so a demo that starts proves they
work. Only what a browser does is imitated here: follow redirects, keep cookies,
fill in and submit the forms on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx2


class DemoSetupError(RuntimeError):
    """A set-up step of the demo did not give the page it should have."""


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self._current)
        elif (
            self._current is not None
            and tag == "input"
            and a.get("type") not in ("submit", "button")
            and a.get("name")
        ):
            self._current.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """One client for every host: cookies kept, redirects followed."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx2.AsyncClient(follow_redirects=True, timeout=30)
        self.page: httpx2.Response | None = None

    async def get(self, path: str) -> httpx2.Response:
        self.page = await self.http.get(path if "://" in path else self.base_url + path)
        return self._checked(self.page)

    async def submit(self, form: Form, **values: str) -> httpx2.Response:
        base = str(self.page.url) if self.page is not None else self.base_url
        url = urljoin(base, form.action)
        data = {**form.fields, **values}
        if form.method == "get":
            self.page = await self.http.get(url, params=data)
        else:
            self.page = await self.http.post(url, data=data)
        return self._checked(self.page)

    async def post_form(self, action_part: str, **values: str) -> httpx2.Response:
        """Submit the form on the current page whose action contains `action_part`."""
        assert self.page is not None
        matches = [f for f in forms(self.page.text) if action_part in f.action]
        if not matches:
            raise DemoSetupError(f"no form posting to {action_part!r} on {self.page.url}")
        return await self.submit(matches[0], **values)

    async def sign_in(self, email: str, password: str) -> None:
        await self.get("/portal/signin")
        await self.post_form("/portal/signin", email=email, password=password)

    async def connect(self, provider: str, account_email: str) -> None:
        """Integrations → Connect → the emulator's consent page → allow → back."""
        await self.get("/portal")
        consent = await self.post_form(f"/portal/connect/{provider}")
        found = forms(consent.text)
        if not found:
            raise DemoSetupError(f"the {provider} consent page has no form")
        if provider == "google":
            await self.submit(found[0], email=account_email, decision="allow")
        else:
            await self.submit(found[0], login=account_email, decision="accept")

    async def add_resource(self, resource_id: int, provider: str) -> None:
        """Integrations → "Add to my calendar" for one resource."""
        await self.get("/portal")
        await self.post_form(f"/portal/resources/{resource_id}/{provider}", action="add")

    def _checked(self, answer: httpx2.Response) -> httpx2.Response:
        if answer.status_code >= 400:
            raise DemoSetupError(
                f"{answer.request.method} {answer.url} answered {answer.status_code}: "
                f"{answer.text[:300]}"
            )
        return answer

    async def aclose(self) -> None:
        await self.http.aclose()
