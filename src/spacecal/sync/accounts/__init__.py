"""A member's provider accounts: consent, provisioning, token care, disconnect."""
