"""Keeping connections alive and tidy: keep-alive and renewal, generations, the sync
window, the sweep, orphan channels, detached calendars, pruning."""
