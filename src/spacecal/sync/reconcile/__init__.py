"""One reconcile of one calendar: read the target, pull, decide, commit, write back."""
