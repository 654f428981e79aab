"""Calendars spacecal makes, and push: watch channels (Google) and subscriptions
(Graph): create, renew, stop, list, and the provider-specific refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.providers.harness import HOOK, LIFECYCLE, NOW, Env

from spacecal.providers.base import CalendarNote, Conflict, NotFound, PushNotSupported

DAY = 24 * 3600


async def test_calendar_create_list_rename_delete(env: Env) -> None:
    desk = await env.provider.create_calendar(env.access, "Desk 7 · Riverside", "Europe/Paris")
    assert desk.name == "Desk 7 · Riverside"
    listed = {c.id: c.name for c in await env.provider.list_calendars(env.access)}
    # Only calendars spacecal made (Google's scope; Graph: the default one is left out).
    assert listed == {env.calendar_id: "Meeting Room A", desk.id: "Desk 7 · Riverside"}
    await env.provider.rename_calendar(env.access, desk.id, "Desk 8 · Riverside")
    listed = {c.id: c.name for c in await env.provider.list_calendars(env.access)}
    assert listed[desk.id] == "Desk 8 · Riverside"
    await env.provider.delete_calendar(env.access, desk.id)
    await env.provider.delete_calendar(env.access, desk.id)  # already gone: done
    assert [c.id for c in await env.provider.list_calendars(env.access)] == [env.calendar_id]
    with pytest.raises(NotFound):
        await env.provider.rename_calendar(env.access, desk.id, "x")


async def _shown(env: Env, calendar_id: str) -> tuple[str, str | None]:
    """(name, description) as the member sees the calendar; Graph has no description."""
    [name] = [c.name for c in await env.provider.list_calendars(env.access) if c.id == calendar_id]
    if env.name == "google":
        [cal] = [c for c in env.emu.calendars(env.email) if c["id"] == calendar_id]
        return name, cal.get("description")
    return name, None


async def test_a_calendar_note_is_shown_and_taken_away(env: Env) -> None:
    note = CalendarNote(label="no longer synced", text="spacecal no longer syncs this calendar.")
    shown = await env.provider.set_calendar_note(
        env.access, env.calendar_id, name="Meeting Room A", note=note
    )
    if env.name == "google":  # the description holds the whole note; the name stays
        assert shown == "Meeting Room A"
        assert await _shown(env, env.calendar_id) == ("Meeting Room A", note.text)
    else:  # Graph calendars have no description: the name carries the label
        assert shown == "Meeting Room A (no longer synced)"
        assert await _shown(env, env.calendar_id) == ("Meeting Room A (no longer synced)", None)
    # Written again (a retry whose answer was lost): the same result, no second suffix.
    again = await env.provider.set_calendar_note(
        env.access, env.calendar_id, name="Meeting Room A", note=note
    )
    assert again == shown
    # A new calendar of the same name, noted too: Graph names are unique per mailbox.
    second = await env.provider.create_calendar(env.access, "Meeting Room A", "Europe/Paris")
    shown2 = await env.provider.set_calendar_note(
        env.access, second.id, name="Meeting Room A", note=note
    )
    if env.name == "microsoft":
        assert shown2 == "Meeting Room A (no longer synced 2)"
    # Taken away (the calendar is synced again): the plain name, no note.
    await env.provider.set_calendar_note(env.access, second.id, name="Meeting Room A", note=None)
    name, description = await _shown(env, second.id)
    assert name == "Meeting Room A" and not description
    with pytest.raises(NotFound):
        await env.provider.set_calendar_note(env.access, "gone", name="x", note=note)


async def test_subscribe_renew_unsubscribe(env: Env) -> None:
    sub = await env.provider.subscribe(
        env.access,
        env.calendar_id,
        notification_url=HOOK,
        lifecycle_url=LIFECYCLE,
        secret="secret-1",
        ttl_seconds=DAY,
    )
    assert sub.expires_at == NOW + timedelta(days=1) and sub.calendar_id == env.calendar_id
    assert "secret-1" not in repr(sub)
    renewed = await env.provider.renew(
        env.access,
        env.calendar_id,
        sub,
        notification_url=HOOK,
        lifecycle_url=LIFECYCLE,
        new_secret="secret-2",
        ttl_seconds=2 * DAY,
    )
    assert renewed.expires_at == NOW + timedelta(days=2)
    if env.name == "google":
        assert renewed.id != sub.id and renewed.secret == "secret-2"
        assert renewed.resource_id == sub.resource_id
        live = {c["id"] for c in env.emu.channels(env.calendar_id) if c["live"]}
        assert live == {sub.id, renewed.id}  # they overlap until the caller stops the old
        await env.provider.unsubscribe(env.access, sub)
        live = {c["id"] for c in env.emu.channels(env.calendar_id) if c["live"]}
        assert live == {renewed.id}
        assert await env.provider.list_subscriptions(env.access) == []
    else:
        assert renewed.id == sub.id and renewed.secret == "secret-1"  # clientState stays
        (listed,) = await env.provider.list_subscriptions(env.access)
        assert listed.id == sub.id and listed.calendar_id == env.calendar_id
        assert listed.expires_at == renewed.expires_at
    await env.provider.unsubscribe(env.access, renewed)
    await env.provider.unsubscribe(env.access, renewed)  # already gone: done
    if env.name == "microsoft":
        assert await env.provider.list_subscriptions(env.access) == []
        with pytest.raises(NotFound):
            await env.provider.renew(
                env.access,
                env.calendar_id,
                renewed,
                notification_url=HOOK,
                lifecycle_url=LIFECYCLE,
                new_secret="x",
                ttl_seconds=DAY,
            )


async def test_google_push_not_supported() -> None:
    from tests.providers.harness import close_env, google_env

    env = google_env()
    try:
        cal = await env.provider.create_calendar(env.access, "Room", "UTC")
        env.emu.set_push_supported(cal.id, False)
        with pytest.raises(PushNotSupported):
            await env.provider.subscribe(
                env.access,
                cal.id,
                notification_url=HOOK,
                lifecycle_url=None,
                secret="s",
                ttl_seconds=DAY,
            )
    finally:
        await close_env(env)


async def test_graph_duplicate_subscription_is_conflict_and_lifetime_is_capped() -> None:
    from tests.providers.harness import close_env, microsoft_env

    env = microsoft_env()
    try:
        cal = await env.provider.create_calendar(env.access, "Room", "UTC")
        sub = await env.provider.subscribe(
            env.access,
            cal.id,
            notification_url=HOOK,
            lifecycle_url=LIFECYCLE,
            secret="s",
            ttl_seconds=30 * DAY,
        )
        assert sub.expires_at == NOW + timedelta(minutes=4230)
        with pytest.raises(Conflict):
            await env.provider.subscribe(
                env.access,
                cal.id,
                notification_url=HOOK,
                lifecycle_url=LIFECYCLE,
                secret="s2",
                ttl_seconds=DAY,
            )
        leftovers = [
            s for s in await env.provider.list_subscriptions(env.access) if s.calendar_id == cal.id
        ]
        assert [s.id for s in leftovers] == [sub.id]
        with pytest.raises(Conflict):  # same name twice
            await env.provider.create_calendar(env.access, "Room", "UTC")
    finally:
        await close_env(env)
