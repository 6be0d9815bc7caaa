r"""Compare store-placement plans under common random numbers, with paired confidence intervals.

A *comparison* runs several plans on one synthetic population with the same random draws,
so that a difference between two plans comes from the plans and not from noise:

* every plan uses the same replication seeds, ``replication_seeds(root, R)``; the
  population is a deterministic function of a replication's seed and the population
  settings, so replication ``r`` of every plan sees the same consumers;
* the daily kernels draw from a counter-based stream (:mod:`simulator.model.rng`): consumer
  ``i`` on day ``t`` sees the same uniform number in every plan.

Plans are given either as two or more scenario files that may differ only in ``plan`` and
``levers`` (and ``name``, ``description``, ``replications``, ``run``), or as one
*comparison file* (TOML) that names a base scenario and the plans to put on it::

    name = "beijing_plans"
    base = "beijing_launch.toml"          # relative to the comparison file
    replications = 8                      # optional (default: the base scenario's)
    seed = 20240328                       # optional (default: the base scenario's)

    [[plans]]
    name = "launch 8"
    use_base_plan = true                  # the base scenario's stores

    [[plans]]
    name = "launch 8 + 8 malls"
    use_base_plan = true
    stores_file = "plans/malls_extra8.csv"   # base stores, then these

    [[plans]]
    name = "8 stations"
    stores = [{ id = "xizhimen", station = "西直门" }]
    levers = { founder_endorsement = { offset = 0.0 } }   # merged into the base's levers

The first plan is the *baseline*. For a KPI with per-replication values ``x_r`` (plan)
and ``b_r`` (baseline), the paired difference is ``d_r = x_r - b_r`` and its confidence
interval

.. math::

    \bar d \pm t_{0.975,\,R-1}\, s_d / \sqrt{R},
    \qquad s_d^2 = \frac{1}{R-1} \sum_r (d_r - \bar d)^2 .

With common random numbers ``s_d`` is much smaller than with independent seeds, because
the noise shared by both plans cancels in ``d_r``.

``compare(...)`` returns a :class:`ComparisonResult`; :func:`write_comparison_tables` writes
its tables, and :func:`simulator.reports.compare_report.write_comparison` the whole comparison
folder with figures, report and run folders (see ``docs/comparing-plans.md``).

Modules: :mod:`.spec` (the comparison file and the validated plans), :mod:`.loading`
(reading files, agreement of the plans), :mod:`.tasks` and :mod:`.execution` (the runs under
common random numbers), :mod:`.statistics` (paired intervals, differences), :mod:`.result`
and :mod:`.tables` (the result and its tables), :mod:`.writing` (the tables on disk).
"""

from simulator.experiments.compare.execution import compare
from simulator.experiments.compare.loading import (
    check_agreement,
    comparison_from_files,
    first_difference,
    load_comparison,
)
from simulator.experiments.compare.result import (
    HEADLINE_KPIS,
    MARGINAL_KPIS,
    RUNS_DIR,
    ZONE_DIFFERENCE_COLUMNS,
    ComparisonResult,
)
from simulator.experiments.compare.spec import (
    AGREEMENT_EXEMPT_KEYS,
    ComparisonFile,
    ComparisonPlan,
    ComparisonSpec,
    PlanSpec,
    is_comparison_data,
    plan_slug,
)
from simulator.experiments.compare.statistics import CONFIDENCE_LEVEL, difference_table, paired_interval
from simulator.experiments.compare.writing import default_comparison_dir, write_comparison_tables

__all__ = [
    "AGREEMENT_EXEMPT_KEYS",
    "CONFIDENCE_LEVEL",
    "HEADLINE_KPIS",
    "MARGINAL_KPIS",
    "RUNS_DIR",
    "ZONE_DIFFERENCE_COLUMNS",
    "ComparisonFile",
    "ComparisonPlan",
    "ComparisonResult",
    "ComparisonSpec",
    "PlanSpec",
    "check_agreement",
    "compare",
    "comparison_from_files",
    "default_comparison_dir",
    "difference_table",
    "first_difference",
    "is_comparison_data",
    "load_comparison",
    "paired_interval",
    "plan_slug",
    "write_comparison_tables",
]
