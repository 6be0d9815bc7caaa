"""Experiments: a scenario's replications, comparisons of plans, parameter sweeps, and the
executors (serial, local processes, Dask) they run on.

May import: ``simulator.model``, ``simulator.city``, ``simulator.config`` and the storage
layer ``simulator.results``; never ``simulator.reports`` or the CLI.
"""
