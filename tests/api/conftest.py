"""API tests: each starts from empty tables (`clean`) and talks to the app in-process
over ASGI (`client`): fixtures in tests/support/api_env.py."""
