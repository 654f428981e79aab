"""Keep-alive tests run in `keep_env` (tests/support/environments.py): spacecal, its
worker and both emulators in-process, with time settings shrunk (SHRUNK) so a week
passes in seconds. Spacecal's clock and both emulators' clocks start at the test's
fixed instant and move together (DESIGN, Time); each step runs what the periodic tasks
run (the keep-alive pass, and the sweep where a test asks for it), then settles."""
