"""CLI tests run `spacecal.cli.main` in-process; main configures logging for the
process (a root handler, levels). Put it back after each test so later tests in the
same session see logging as they left it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    spacecal = logging.getLogger("spacecal")
    handlers, levels = list(root.handlers), (root.level, spacecal.level)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(levels[0])
    spacecal.setLevel(levels[1])
