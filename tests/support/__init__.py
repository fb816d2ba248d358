"""Helpers shared by the integration tests, the browser tests and the benchmarks.

`processes` starts and stops ``bonas`` command-line processes and finds free ports; `tables`
writes the NB201-shaped benchmark table the table-evaluator tests read.
"""
