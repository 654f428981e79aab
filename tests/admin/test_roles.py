"""Who sees and does what: the records API's roles of the two connection records.
List opens the list and the charts (for that provider only), Read one connection's
page, Edit resync and renew, Delete disconnect. Without the role: a 403 page naming
the role, and nothing changed."""

from __future__ import annotations

import re

from tests.admin.conftest import World
from tests.support.portal import find_form

from spacecal.admin.access import AdminUser


def _listed_ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'<tr data-id="(\d+)"', html)}


async def test_a_user_without_console_roles_gets_403_pages(world: World) -> None:
    browser = await world.signed_in("norole@example.com")
    for path in ("/admin/connections", "/admin/activity"):
        page = await browser.get(path)
        assert page.status_code == 403, path
        assert "Not allowed" in page.text
        assert "CoworkerGoogleCalendar-List or CoworkerMsOfficeCalendar-List" in page.text
        assert "Meeting Room A" not in page.text
    page = await browser.get(f"/admin/connections/{world.ids['healthy']}")
    assert page.status_code == 403
    assert "CoworkerGoogleCalendar-Read" in page.text
    assert "cal-healthy" not in page.text


async def test_one_providers_roles_show_that_provider_only(world: World) -> None:
    browser = await world.signed_in("google-viewer@example.com")
    page = await browser.get("/admin/connections")
    assert page.status_code == 200
    google = {world.ids[k] for k in ("healthy", "reconnect", "notified", "queued")}
    assert _listed_ids(page.text) == google
    assert "Microsoft 365" not in page.text  # not in the summary nor the provider filter
    page = await browser.get("/admin/connections?provider=microsoft")
    assert page.status_code == 403
    assert "CoworkerMsOfficeCalendar-List" in page.text
    page = await browser.get(f"/admin/connections/{world.ids['failing']}")
    assert page.status_code == 403
    page = await browser.get(f"/admin/connections/{world.ids['healthy']}")
    assert page.status_code == 200
    # Read only: the buttons are shown disabled.
    for button in ("resync", "renew", "disconnect"):
        assert re.search(rf'id="{button}"[^>]*disabled', page.text), button
    page = await browser.get("/admin/activity?provider=microsoft")
    assert page.status_code == 403
    page = await browser.get("/admin/activity")
    assert page.status_code == 200


async def test_list_without_read_cannot_open_a_connection(world: World) -> None:
    browser = await world.signed_in("lister@example.com")
    page = await browser.get("/admin/connections")
    assert page.status_code == 200
    assert len(_listed_ids(page.text)) == len(world.ids)
    assert f'href="/admin/connections/{world.ids["healthy"]}"' not in page.text
    page = await browser.get(f"/admin/connections/{world.ids['healthy']}")
    assert page.status_code == 403
    assert "CoworkerGoogleCalendar-Read" in page.text


async def _press(world: World, email: str, key: str, button: str) -> tuple[int, str]:
    """Open the connection's page as a full admin would see it (to get a form with a
    valid CSRF token for `email`'s session), press `button`; the answer's status."""
    browser = await world.signed_in(email)
    page = await browser.get(f"/admin/connections/{world.ids[key]}")
    if page.status_code != 200:
        return page.status_code, page.text
    form = find_form(page.text, f"/{button}")
    answer = await browser.submit(form, **({"confirm": "yes"} if button == "disconnect" else {}))
    return answer.status_code, answer.text


async def test_read_only_users_cannot_press_buttons(world: World) -> None:
    before = await world.row("healthy")
    for button in ("resync", "renew", "disconnect"):
        status, text = await _press(world, "google-viewer@example.com", "healthy", button)
        assert status == 403, button
        operation = "Delete" if button == "disconnect" else "Edit"
        assert f"CoworkerGoogleCalendar-{operation}" in text
    after = await world.row("healthy")
    assert after is not None
    assert (after.resync_requested, after.renew_requested) == (False, False)
    assert after.updated_on == before.updated_on
    assert [j.task_name for j in await world.jobs()] == ["spacecal.reconcile"]  # the seeded one


async def test_edit_may_resync_and_renew_but_not_disconnect(world: World) -> None:
    status, _ = await _press(world, "google-editor@example.com", "healthy", "resync")
    assert status == 200
    status, _ = await _press(world, "google-editor@example.com", "healthy", "renew")
    assert status == 200
    row = await world.row("healthy")
    assert (row.resync_requested, row.renew_requested) == (True, True)
    status, text = await _press(world, "google-editor@example.com", "healthy", "disconnect")
    assert status == 403
    assert "CoworkerGoogleCalendar-Delete" in text
    assert await world.row("healthy") is not None


async def test_delete_may_disconnect_but_not_resync(world: World) -> None:
    status, text = await _press(world, "google-deleter@example.com", "healthy", "resync")
    assert status == 403
    assert "CoworkerGoogleCalendar-Edit" in text
    assert not (await world.row("healthy")).resync_requested
    status, _ = await _press(world, "google-deleter@example.com", "reconnect", "disconnect")
    assert status == 200
    assert await world.row("reconnect") is None


async def test_roles_are_per_provider_for_buttons_too(world: World) -> None:
    status, _ = await _press(world, "ms-operator@example.com", "healthy", "resync")
    assert status == 403  # a Google connection: cannot even open its page
    status, _ = await _press(world, "ms-operator@example.com", "failing", "resync")
    assert status == 200
    assert (await world.row("failing")).resync_requested


def test_full_admin_may_everything_and_roles_are_exact() -> None:
    admin = AdminUser(1, "a@x", frozenset(), True)
    assert admin.providers("Delete") == ("google", "microsoft", "caldav")
    viewer = AdminUser(2, "v@x", frozenset({"CoworkerGoogleCalendar-Read"}), False)
    assert viewer.may("google", "Read")
    assert not viewer.may("google", "List")
    assert not viewer.may("microsoft", "Read")
    assert not viewer.may("caldav", "Read")
    assert not viewer.may("yahoo", "Read")
