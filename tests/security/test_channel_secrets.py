"""Channel tokens and clientStates at rest (issue 17 item 12): the database holds only
their keyed hash, so whoever reads `subscription_generations` (a backup, a replica,
a support dump) cannot forge a provider notification with what they read. The
provider still gets the clear value, notifications carrying it are accepted, rows
stored in clear before this change keep working and are sealed at start-up, and a
renewal stores one hash, never a hash of a hash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select, update
from tests.support.channel_secrets import all_channel_secrets
from tests.support.environments import KeepEnv, SyncEnv

from security.test_webhook_input import snapshot
from spacecal.config import Settings
from spacecal.crypto import SEALED_PREFIX, TokenCipher, fingerprint
from spacecal.db.engine import Database, open_database
from spacecal.db.models import SubscriptionGeneration
from spacecal.db.rekey import reencrypt_tokens


async def _generations(s: SyncEnv | KeepEnv) -> dict[str, Any]:
    async with s.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(SubscriptionGeneration).where(SubscriptionGeneration.status == "live")
            )
        ).all()
    return {r.provider: r for r in rows}


async def _notify(s: SyncEnv | KeepEnv, gen: Any, token: str) -> int:
    if gen.provider == "google":
        answer = await s.env.api.post(
            "/webhooks/google",
            headers={
                "X-Goog-Channel-ID": gen.subscription_id,
                "X-Goog-Channel-Token": token,
                "X-Goog-Resource-State": "exists",
            },
        )
        return answer.status_code
    item = {"subscriptionId": gen.subscription_id, "clientState": token, "changeType": "updated"}
    answer = await s.env.api.post("/webhooks/microsoft", json={"value": [item]})
    return answer.status_code


async def test_what_the_database_holds_cannot_forge_a_notification(sync_env: SyncEnv) -> None:
    s = sync_env
    await s.connect("google")
    await s.connect("microsoft")
    await s.settle()
    clear = all_channel_secrets(s.env)
    gens = await _generations(s)
    assert set(gens) == {"google", "microsoft"}
    for gen in gens.values():
        stored = gen.secret
        assert stored.startswith(SEALED_PREFIX), stored
        assert clear[gen.subscription_id] not in stored
    before = await snapshot(s)
    # The stored value, sent as the token: refused, nothing marked.
    assert await _notify(s, gens["google"], gens["google"].secret) == 401
    assert await _notify(s, gens["microsoft"], gens["microsoft"].secret) == 202
    assert await snapshot(s) == before
    # The clear value the provider was given: accepted.
    for gen in gens.values():
        assert await _notify(s, gen, clear[gen.subscription_id]) in (200, 202)
    assert await snapshot(s) != before


async def test_secrets_stored_in_clear_before_keep_working_and_are_sealed_at_start(
    sync_env: SyncEnv, settings: Settings
) -> None:
    s = sync_env
    await s.connect("google")
    await s.settle()
    [gen] = (await _generations(s)).values()
    token = all_channel_secrets(s.env)[gen.subscription_id]
    async with s.engine.begin() as conn:  # as a row from before hashing
        await conn.execute(update(SubscriptionGeneration).values(secret=token))
    assert await _notify(s, gen, token) == 200
    assert await _notify(s, gen, "guess") == 401
    db = await open_database(settings)  # a process starting (after `db upgrade`)
    await db.dispose()
    [sealed] = (await _generations(s)).values()
    assert sealed.secret.startswith(SEALED_PREFIX) and token not in sealed.secret
    assert await _notify(s, sealed, token) == 200
    assert await _notify(s, sealed, sealed.secret) == 401


async def test_renewals_store_one_hash_of_the_secret_sent(keep_env: KeepEnv) -> None:
    k = keep_env
    await k.connect("google")
    await k.connect("microsoft")
    await k.settle()
    first = await _generations(k)
    for _ in range(8):  # past both providers' renewal margins
        await k.advance(timedelta(hours=6))
    renewed = await _generations(k)
    clear = all_channel_secrets(k.env)
    assert renewed["google"].subscription_id != first["google"].subscription_id  # new channel
    assert renewed["microsoft"].expires_at > first["microsoft"].expires_at  # PATCHed
    assert renewed["microsoft"].secret == first["microsoft"].secret  # not hashed again
    for gen in renewed.values():
        assert gen.secret.startswith(SEALED_PREFIX) and gen.secret.count(":") == 2
        assert await _notify(k, gen, clear[gen.subscription_id]) in (200, 202)


async def test_a_key_rotation_replaces_the_subscriptions_hashed_under_the_old_key(
    keep_env: KeepEnv, database: Database
) -> None:
    """The hashes cannot be re-keyed (the clear values are gone): `keys reencrypt`
    has the keep-alive replace those subscriptions, after which the old key can go."""
    k = keep_env
    await k.connect("google")
    await k.connect("microsoft")
    await k.settle()
    before = await _generations(k)
    original = database.cipher
    new_key = Fernet.generate_key().decode()
    try:
        database.cipher = TokenCipher([new_key, *original.keys])  # step 1: new key first
        await reencrypt_tokens(database.engine, database.cipher)  # step 2
        await k.tick()  # the keep-alive's next pass
        await k.settle()
        after = await _generations(k)
        for provider, gen in after.items():
            assert gen.subscription_id != before[provider].subscription_id, provider
            assert gen.secret.startswith(f"{SEALED_PREFIX}{fingerprint(new_key)}:")
        database.cipher = TokenCipher([new_key])  # step 3: the old key is dropped
        clear = all_channel_secrets(k.env)
        for gen in after.values():
            assert await _notify(k, gen, clear[gen.subscription_id]) in (200, 202)
    finally:
        database.cipher = original
