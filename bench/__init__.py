"""Benchmarks: each prints ratios against a simple baseline measured in the same run."""
