"""The model: population synthesis, exposure rates, the daily kernels, random streams,
store placement and the Mesa model that steps them one day at a time.

Works on arrays only: geometry arrives as a ``City``. May import: ``simulator.city``,
``simulator.config``.
"""
