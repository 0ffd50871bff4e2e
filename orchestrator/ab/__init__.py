"""orchestrator ab: A (a base kernel) against B (the base plus a patch series)."""
