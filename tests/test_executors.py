"""Executors: the same outcomes in this process, in local processes and on a Dask cluster."""

from __future__ import annotations

import math

import pytest

from simulator.config.errors import FootprintError
from simulator.experiments.executors import ExecutorSpec, execute

TASKS = [4.0, 9.0, -1.0, 16.0]  # math.sqrt(-1) raises: one failing task among good ones


def outcomes(spec):
    return {o.index: (o.value, o.error.splitlines()[0] if o.error else None) for o in execute(math.sqrt, TASKS, spec)}


def test_serial_records_failures_and_continues():
    result = outcomes(ExecutorSpec())
    assert result[0] == (2.0, None) and result[3] == (4.0, None)
    assert result[2][0] is None and result[2][1].startswith("ValueError: math domain error")


@pytest.mark.parametrize(
    "spec",
    [ExecutorSpec("processes", workers=2), ExecutorSpec("dask-local", workers=2)],
    ids=["processes", "dask-local"],
)
def test_parallel_executors_give_the_serial_outcomes(spec):
    assert outcomes(spec) == outcomes(ExecutorSpec())


def test_options_to_spec(monkeypatch):
    monkeypatch.setattr("simulator.experiments.executors.default_workers", lambda: 8)  # no cap (see test_safety)
    assert ExecutorSpec.from_options() == ExecutorSpec()
    assert ExecutorSpec.from_options(jobs=1) == ExecutorSpec()
    assert ExecutorSpec.from_options(jobs=3) == ExecutorSpec("processes", workers=3)
    assert ExecutorSpec.from_options(cluster="local:2") == ExecutorSpec("dask-local", workers=2)
    assert ExecutorSpec.from_options(scheduler="tcp://127.0.0.1:8786").address == "tcp://127.0.0.1:8786"
    for kwargs in ({"jobs": 2, "cluster": "local:2"}, {"cluster": "remote:2"}, {"scheduler": "localhost"}, {"jobs": 0}):
        with pytest.raises(FootprintError):
            ExecutorSpec.from_options(**kwargs)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("simulator.experiments.executors.CONNECT_TIMEOUT", "1s")
    with pytest.raises(FootprintError, match="cannot reach"):
        list(execute(math.sqrt, TASKS, ExecutorSpec("dask", address="tcp://127.0.0.1:9")))
