"""A member whose Microsoft 365 organisation lets only administrators approve apps
(Entra's user-consent policy, modelled by the emulator): the portal says what to ask the
IT team for, with the admin-consent URL for spacecal's app; once an administrator
approves through that URL, the member connects."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from tests.support.bookings import EMAIL
from tests.support.environments import Env
from tests.support.portal import MICROSOFT, forms

from spacecal.db.models import ProviderAccount


async def _accounts(env: Env) -> int:
    async with env.rt.db.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(ProviderAccount)) or 0)


async def test_admin_consent_policy_tells_the_member_what_to_ask_for(env: Env) -> None:
    policy = await env.control.post(
        MICROSOFT + "/_control/microsoft/consent-policy", json={"admin_consent_required": True}
    )
    assert policy.status_code == 200, policy.text
    b = env.browser
    await b.sign_in("alice@example.com")
    page = await b.connect("microsoft", EMAIL["microsoft"])
    assert page.url.path == "/portal", page.url
    assert 'id="admin-consent-microsoft"' in page.text, page.text
    text = html.unescape(page.text)
    assert "only its administrators approve apps for Microsoft 365" in text
    assert "tenant-wide admin consent" in text and "spacecal-test-client" in text
    assert "Calendars.ReadWrite" in text
    assert "did not allow" not in text  # not mistaken for the member's own refusal
    assert await _accounts(env) == 0
    found = re.search(r'class="admin-consent-url">([^<]+)<', page.text)
    assert found, page.text
    url = html.unescape(found.group(1))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/organizations/v2.0/adminconsent", url  # "common" is no tenant
    assert query["client_id"] == ["spacecal-test-client"]
    assert query["redirect_uri"] == ["http://spacecal.test/portal/connect/microsoft/callback"]
    assert "https://graph.microsoft.com/Calendars.ReadWrite" in query["scope"][0].split()

    # The IT administrator (no member of the space) opens the link and accepts.
    admin = env.new_browser()
    consent = await admin.get(url)
    assert consent.status_code == 200, consent.text
    done = await admin.submit(forms(consent.text)[0], login="it@outlook.test", decision="accept")
    assert done.url.path == "/portal/signin", done.url
    assert "approved for your organisation" in html.unescape(done.text)
    await admin.aclose()

    # The member connects again, now without the administrator.
    page = await b.connect("microsoft", EMAIL["microsoft"])
    assert "is connected" in page.text, page.text
    assert await _accounts(env) == 1
