"""Portal tests run in `env` (tests/support/environments.py): spacecal and both
emulators in-process, wired to each other over httpx2's ASGI transport, and a
browser-like client driving the pages."""
