"""Sync tests run in `sync_env` (tests/support/environments.py): spacecal, its worker
and both emulators in-process, plus helpers to connect a member and let everything
settle."""
