"""Webhook intake: the provider-facing endpoints, verification, durable marks, and
the dispatcher that turns marks into reconcile jobs."""
