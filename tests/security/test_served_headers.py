"""What pages tell the browser (issue 17 item 11): every portal page carries the
console's Content-Security-Policy and nosniff (a form may lead only here and to the
providers' consent pages), and /docs and /redoc load their scripts and styles from
spacecal itself, never from a CDN, so they work offline and run no third party's
code on spacecal's origin."""

from __future__ import annotations

import re

import httpx2
from tests.support.environments import Env

from spacecal.config import Settings


def _assert_hardened(answer: httpx2.Response, settings: Settings) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff", answer.url
    policy = answer.headers["content-security-policy"]
    for directive in (
        "default-src 'none'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ):
        assert directive in policy, (answer.url, policy)
    [form_action] = [d.strip() for d in policy.split(";") if "form-action" in d]
    allowed = form_action.split()[1:]
    assert allowed[0] == "'self'"
    # Connect leads to the consent pages; nothing else.
    assert set(allowed[1:]) == {
        re.match(r"https?://[^/]+", settings.google_authorize_url).group(0),  # type: ignore[union-attr]
        re.match(r"https?://[^/]+", settings.microsoft_login_base).group(0),  # type: ignore[union-attr]
    }
    assert "script-src" not in policy  # no script at all (default-src 'none')


async def test_every_portal_page_carries_the_policy_and_nosniff(env: Env) -> None:
    browser = env.browser
    settings = env.rt.settings
    _assert_hardened(await browser.get("/portal/signin"), settings)
    _assert_hardened(await browser.get("/portal/no-such-page"), settings)  # the 404 page
    await browser.sign_in("alice@example.com")
    for path in ("/portal", "/portal/bookings"):
        answer = await browser.get(path)
        assert answer.status_code == 200, path
        _assert_hardened(answer, settings)


async def test_docs_load_only_spacecal_s_own_assets(env: Env) -> None:
    api = env.api
    for page in ("/docs", "/redoc"):
        answer = await api.get(page)
        assert answer.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", answer.text)
        assets += re.findall(r"""url:\s*['"]([^'"]+)['"]""", answer.text)
        assert assets, page
        for url in assets:
            assert url.startswith("/") and not url.startswith("//"), (page, url)
            fetched = await api.get(url)
            assert fetched.status_code == 200, (page, url)
        assert "cdn." not in answer.text and "https://" not in answer.text.split("<body")[0]
    script = await api.get("/docs/assets/swagger-ui-bundle.js")
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert len(script.content) > 500_000  # the bundle itself, not a stub
