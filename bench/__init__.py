"""Benchmarks: each prints its figures as ratios against a simple baseline measured in the same run."""
