"""Keeping connections alive and tidy: keep-alive and renewal, generations, the sync
window, the sweep, orphans, leftovers, pruning."""
