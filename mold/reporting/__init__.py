"""Paper-style tables and figure data, built by pure functions from saved results."""
