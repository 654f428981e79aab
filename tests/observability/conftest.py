"""Observability tests run on the sync tests' harness: spacecal, its worker and both
emulators in-process (tests/sync/conftest.py)."""

from tests.sync.conftest import member_password_hash, sync_env

__all__ = ["member_password_hash", "sync_env"]
