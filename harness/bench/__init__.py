"""Benchmark sets of realistic shapes (see :mod:`harness.bench.shapes`)."""
from .shapes import BENCH, MODELS, bench_cases

__all__ = ["BENCH", "MODELS", "bench_cases"]
