"""Fixtures for the provider adapter tests: spacecal's clock frozen at the emulators'
start, and `env`, parametrized over both providers (see harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.providers.harness import NOW, Env, close_env, make_env

from spacecal.clock import clock


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[None]:
    clock.freeze(NOW)
    yield
    clock.reset()


@pytest.fixture(params=["google", "microsoft"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    e = make_env(request.param)
    e.calendar_id = (
        await e.provider.create_calendar(e.access, "Meeting Room A", "Europe/Paris")
    ).id
    yield e
    await close_env(e)


@pytest.fixture(params=["google", "microsoft"])
async def paged_env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """Page size 2, so every pull crosses several pages."""
    e = make_env(request.param, page_size=2)
    e.calendar_id = (
        await e.provider.create_calendar(e.access, "Meeting Room A", "Europe/Paris")
    ).id
    yield e
    await close_env(e)
