"""Encryption of provider tokens at rest (MultiFernet) and the key-fingerprint check.

Keys come from `SPACECAL_SECRET_KEYS` (comma-separated, newest first). The embedded
default generates one into `<data dir>/secret.key`. With `DATABASE_URL` the keys are
required: a shared server outlives any one machine's data directory.

The database remembers the fingerprint of the key that encrypts its tokens; a process
whose keys do not include it refuses to start instead of failing on every token later.

Channel tokens and clientStates (subscription_generations.secret) are only ever
compared, never sent again, so they are stored as a keyed hash, not encrypted:
`h1:<key fingerprint>:<hex HMAC-SHA256>`, keyed with a key derived from one of the
Fernet keys (the newest when sealing; the one the fingerprint names when checking).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from spacecal.config import Settings

KEY_FILE_NAME = "secret.key"
FINGERPRINT_META_KEY = "secret_key_fingerprint"
SEALED_PREFIX = "h1:"


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
        # One HMAC key per Fernet key, derived (never the Fernet key itself), by name.
        self._hash_keys = {
            fingerprint(k): hmac.new(
                k.encode(), b"spacecal subscription secret v1", hashlib.sha256
            ).digest()
            for k in keys
        }

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

    def seal_secret(self, secret: str) -> str:
        """The stored form of a channel token / clientState: its keyed hash under the
        newest key. Already sealed (a renewal that keeps the clientState) or empty
        values are returned as they are."""
        if not secret or secret.startswith(SEALED_PREFIX):
            return secret
        kid = self.primary_fingerprint
        digest = hmac.new(self._hash_keys[kid], secret.encode(), hashlib.sha256).hexdigest()
        return f"{SEALED_PREFIX}{kid}:{digest}"

    def secret_matches(self, given: object, stored: str) -> bool:
        """Whether a notification's token matches a stored secret, in constant time.
        Only a non-empty string can match, and never an empty stored secret. A value
        stored before secrets were hashed (no prefix) is compared as it is."""
        if not isinstance(given, str) or not given or not stored:
            return False
        try:
            raw = given.encode()
        except UnicodeEncodeError:  # JSON can spell a lone surrogate ("\ud800"): no match
            return False
        if not stored.startswith(SEALED_PREFIX):
            return hmac.compare_digest(raw, stored.encode())
        kid, _, digest = stored[len(SEALED_PREFIX) :].partition(":")
        key = self._hash_keys.get(kid)
        if key is None:  # hashed under a key no longer configured
            return False
        expected = hmac.new(key, raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), digest.encode())


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
