"""Data helpers: deterministic synthetic data sets for demos, tests and benchmarks."""
