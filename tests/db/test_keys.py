"""Encryption keys: required with DATABASE_URL, generated for the embedded default,
and a process whose keys do not match the database refuses to start."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from spacecal.config import Settings
from spacecal.crypto import KeyConfigurationError, TokenCipher, fingerprint, load_keys
from spacecal.db.engine import open_database


def test_keys_are_required_with_an_external_database(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://x@127.0.0.1/x", data_dir=tmp_path)
    with pytest.raises(KeyConfigurationError, match="SPACECAL_SECRET_KEYS is required"):
        load_keys(settings, embedded=False)


def test_embedded_default_generates_one_private_key_and_keeps_it(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = load_keys(settings, embedded=True)
    again = load_keys(settings, embedded=True)
    assert first == again and len(first) == 1
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(first[0].encode())  # a usable key


def test_malformed_key_is_named(tmp_path: Path) -> None:
    settings = Settings(secret_keys="not-a-key", data_dir=tmp_path)
    with pytest.raises(KeyConfigurationError, match="entry 1 is not a Fernet key"):
        load_keys(settings, embedded=False)


def test_tokens_are_unreadable_without_the_key() -> None:
    cipher = TokenCipher([Fernet.generate_key().decode()])
    sealed = cipher.encrypt("1//refresh-token-value")
    assert b"refresh-token-value" not in sealed
    assert cipher.decrypt(sealed) == "1//refresh-token-value"
    other = TokenCipher([Fernet.generate_key().decode()])
    with pytest.raises(KeyConfigurationError) as info:
        other.decrypt(sealed)
    assert "refresh-token-value" not in str(info.value)


def test_rotation_new_key_first_still_reads_old_tokens() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = TokenCipher([old]).encrypt("secret")
    rotated = TokenCipher([new, old])
    assert rotated.decrypt(sealed) == "secret"
    resealed = rotated.rotate(sealed)
    assert TokenCipher([new]).decrypt(resealed) == "secret"


async def test_wrong_keys_refuse_to_start(
    server_url: str, fresh_database_on: Callable[[str], str], tmp_path: Path
) -> None:
    url = fresh_database_on(server_url)
    first_key, other_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    db = await open_database(Settings(database_url=url, secret_keys=first_key, data_dir=tmp_path))
    await db.dispose()
    with pytest.raises(KeyConfigurationError, match=fingerprint(first_key)):
        await open_database(Settings(database_url=url, secret_keys=other_key, data_dir=tmp_path))
    # Rotation: the new key in front of the old one is accepted.
    db = await open_database(
        Settings(database_url=url, secret_keys=f"{other_key},{first_key}", data_dir=tmp_path)
    )
    await db.dispose()
