"""Keeping calendars and bookings true to each other: webhook intake, reconcile,
subscriptions, and (here first) provisioning, disconnect and token care."""
