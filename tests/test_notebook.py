"""docs/quickstart.ipynb: committed without outputs, and it runs from top to bottom (nbclient).

About 10 s of CPU (a 3,000-consumer run of 45 days and a two-plan comparison of two
replications on the Beijing bundle), 40 s wall on a loaded two-core machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "quickstart.ipynb"


def test_the_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_the_notebook_runs_a_scenario_a_comparison_and_plots(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    html = "".join(output.get("data", {}).get("text/html", "") for output in outputs)
    assert "Run: beijing_launch" in html and "Comparison: one_more_store" in html
    assert "launch 8 + Qinghe − baseline" in html
    plots = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(plots) == 2
    assert not list(tmp_path.glob("results*")), "the notebook writes no results folder where it runs"
