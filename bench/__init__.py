"""Measurements run by hand (and smoke-tested in CI): chaos soak, benchmarks."""
