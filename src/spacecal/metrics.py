"""Process metrics (Prometheus). Labels are small closed sets: never an id or a secret."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "spacecal_webhook_notifications_total",
    "Provider notifications received, by provider and outcome.",
    ["provider", "outcome"],
)
