"""Offline benchmarks run in-process against tabular benchmarks (`bonas bench ...`)."""
