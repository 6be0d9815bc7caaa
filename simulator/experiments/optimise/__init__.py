"""Optimisation of store plans: which K sites to open next, against the simulated funnel.

Modules: :mod:`.spec` (the optimisation file's schema and its JSON Schema),
:mod:`.candidates` (candidate sites from the city bundle and a file, filters, budget
checks), :mod:`.loading` (reading a file into an :class:`Optimisation`),
:mod:`.surrogate` (the screening surrogate), :mod:`.search` (greedy addition and
interchange under common random numbers), :mod:`.journal` (one file per simulation, for
resuming), :mod:`.execution` (the whole run on the executors) and :mod:`.tables` (the
folder's tables and plan files). The figures and report are drawn by
:mod:`simulator.reports.optimise_report`. See docs/optimising.md.
"""

from __future__ import annotations

from simulator.experiments.optimise.execution import run_optimisation
from simulator.experiments.optimise.loading import Optimisation, load_optimisation
from simulator.experiments.optimise.search import SearchProblem, SearchResult, optimise_plan
from simulator.experiments.optimise.spec import OBJECTIVES, OptimisationFile, optimisation_json_schema
from simulator.experiments.optimise.tables import OptimisationResult

__all__ = [
    "OBJECTIVES",
    "Optimisation",
    "OptimisationFile",
    "OptimisationResult",
    "SearchProblem",
    "SearchResult",
    "load_optimisation",
    "optimisation_json_schema",
    "optimise_plan",
    "run_optimisation",
]
