"""Presentation: figures, maps and self-contained HTML reports drawn from results.

May import every layer below it: ``simulator.results``, ``simulator.experiments``,
``simulator.city``, ``simulator.config``; never the CLI.
"""
