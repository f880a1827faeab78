"""Benchmarks: `python -m bench [--quick] [--json FILE]` prints a table of figures and targets."""
