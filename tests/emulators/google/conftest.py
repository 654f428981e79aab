"""Fixtures for the Google emulator tests (helpers live in helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.emulators.google.helpers import Env, make_env


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    e = make_env()
    yield e
    await e.http.aclose()
    await e.emu.aclose()
