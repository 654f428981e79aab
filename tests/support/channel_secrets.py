"""The clear channel tokens and clientStates, read from the emulators that were sent
them: spacecal stores only their keyed hash (subscription_generations.secret), so a
test that plays the provider asks the provider's emulator, as the real one would know."""

from __future__ import annotations

from typing import Any


def all_channel_secrets(env: Any) -> dict[str, str]:
    """Subscription or channel id -> the clear secret spacecal sent with it."""
    found = {str(ch["id"]): str(ch["token"]) for ch in env.google.channels() if ch["token"]}
    for sub in env.microsoft.list_subscriptions():
        if sub.get("clientState"):
            found[str(sub["id"])] = str(sub["clientState"])
    return found


def channel_secret(env: Any, subscription_id: str) -> str:
    return all_channel_secrets(env)[subscription_id]
