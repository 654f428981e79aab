"""The suite's shared fixtures, markers and options live in one plugin,
tests/support/plugin.py (database, fixed-start clocks, the in-process environments,
`eventually()`, the `slow`/`wallclock` markers and `--travel`)."""

import pytest

pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.plugin"]
