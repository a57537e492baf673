"""driftloop package."""
