"""driftloop benchmark harness: `make bench` or `driftloop bench` (see README)."""
