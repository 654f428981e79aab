"""Encryption of provider tokens at rest (MultiFernet) and the key-fingerprint check.

Keys come from `SPACECAL_SECRET_KEYS` (comma-separated, newest first). The embedded
default generates one into `<data dir>/secret.key`. With `DATABASE_URL` the keys are
required: a shared server outlives any one machine's data directory.

The database remembers the fingerprint of the key that encrypts its tokens; a process
whose keys do not include it refuses to start instead of failing on every token later.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from spacecal.config import Settings

KEY_FILE_NAME = "secret.key"
FINGERPRINT_META_KEY = "secret_key_fingerprint"


class KeyConfigurationError(RuntimeError):
    """The encryption keys are missing, malformed or do not match the database."""


def fingerprint(key: str) -> str:
    """A short public name for a key: reveals nothing about the key itself."""
    return hashlib.sha256(b"spacecal-key-fingerprint:" + key.encode()).hexdigest()[:16]


def load_keys(settings: Settings, *, embedded: bool) -> list[str]:
    """The configured keys, or (embedded only) the one in the data directory, made if new."""
    keys = settings.secret_key_list()
    if keys:
        for index, key in enumerate(keys):
            try:
                Fernet(key.encode())
            except (ValueError, TypeError) as exc:
                raise KeyConfigurationError(
                    f"SPACECAL_SECRET_KEYS entry {index + 1} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes). Make one with: "
                    'python -c "from cryptography.fernet import Fernet; '
                    'print(Fernet.generate_key().decode())"'
                ) from exc
        return keys
    if not embedded:
        raise KeyConfigurationError(
            "SPACECAL_SECRET_KEYS is required when DATABASE_URL is set: provider tokens are "
            'encrypted with it. Generate one with: python -c "from cryptography.fernet import '
            'Fernet; print(Fernet.generate_key().decode())"'
        )
    return [_data_dir_key(settings.data_dir)]


def _data_dir_key(data_dir: Path) -> str:
    path = data_dir.expanduser() / KEY_FILE_NAME
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class TokenCipher:
    """Encrypts with the newest key; decrypts with any configured key."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyConfigurationError("at least one encryption key is needed")
        self.keys = keys
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    @property
    def primary_fingerprint(self) -> str:
        return fingerprint(self.keys[0])

    def fingerprints(self) -> set[str]:
        return {fingerprint(k) for k in self.keys}

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            # Never echo the ciphertext: it is as sensitive as the token to some eyes.
            raise KeyConfigurationError(
                "a stored provider token cannot be decrypted with the configured keys"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt `token` under the newest key."""
        return self._fernet.rotate(token)


def check_fingerprint(stored: str | None, cipher: TokenCipher) -> str | None:
    """Decide whether this process may run against a database with `stored`.

    Returns the fingerprint to store (when none is stored yet), or None. Raises when
    the stored key is not among ours.
    """
    if stored is None:
        return cipher.primary_fingerprint
    if stored not in cipher.fingerprints():
        raise KeyConfigurationError(
            f"the database's tokens are encrypted with key {stored}, which is not among "
            f"SPACECAL_SECRET_KEYS (fingerprints {', '.join(sorted(cipher.fingerprints()))}). "
            "Start with the keys this database was set up with (newest first); "
            "to rotate, add the new key in front of the old one."
        )
    return None
