"""Golden test: the public outputs of a small seeded case stay as pinned.

Tolerances are named: the run is deterministic, so on the machine that wrote the file the
outputs match exactly; the tolerances only absorb last-digit differences of ``exp``/``pow``
between CPUs and libraries, which can flip a rare threshold. If this fails after a change
that was meant to alter outputs, regenerate the file (see tests/golden/golden_case.py).
"""

from __future__ import annotations

import json

import pytest
from golden.golden_case import GOLDEN_FILE, golden_outputs, golden_scenario

from simulator.experiments.run import run

SHARE_TOLERANCE = 0.002  # absolute, on shares and means in [0, 1]
COUNT_RELATIVE_TOLERANCE = 0.01
COUNT_ABSOLUTE_TOLERANCE = 2


def test_golden_outputs(tiny_city_path, tiny_city):
    pinned = json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    outputs = golden_outputs(run(golden_scenario(tiny_city_path), city=tiny_city))
    assert outputs["replication_seeds"] == pinned["replication_seeds"]
    for kpi, value in pinned["end_of_horizon"].items():
        assert outputs["end_of_horizon"][kpi] == pytest.approx(value, abs=SHARE_TOLERANCE), kpi
    for name, value in pinned["totals"].items():
        assert outputs["totals"][name] == pytest.approx(
            value, rel=COUNT_RELATIVE_TOLERANCE, abs=COUNT_ABSOLUTE_TOLERANCE
        ), name
    assert set(outputs["stores"]) == set(pinned["stores"])
    for store, columns in pinned["stores"].items():
        for name, value in columns.items():
            assert outputs["stores"][store][name] == pytest.approx(
                value, rel=COUNT_RELATIVE_TOLERANCE, abs=COUNT_ABSOLUTE_TOLERANCE
            ), (store, name)
