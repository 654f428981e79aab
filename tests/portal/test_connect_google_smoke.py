from __future__ import annotations

from tests.portal.conftest import Env


async def test_smoke(env: Env) -> None:
    b = env.browser
    page = await b.sign_in("alice@example.com")
    assert page.status_code == 200, page.text
    assert "Integrations" in page.text
    page = await b.connect("google", "alice@gmail.test")
    assert page.status_code == 200, page.text
    print(page.url)
    assert "is connected" in page.text, page.text
    page = await b.post_form(f"/portal/resources/{env.space.room_id}/google", action="add")
    assert page.status_code == 200, page.text
    assert "Added" in page.text, page.text
    print(await env.google_json("/calendars", email="alice@gmail.test"))
    print(await env.google_json("/channels"))
