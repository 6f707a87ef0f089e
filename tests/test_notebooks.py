"""The teaching notebooks: committed clean, and run top to bottom in a fresh kernel.

Each notebook is executed headless with nbclient, as "Run All" would in
JupyterLab: the notebook's own ``python3`` kernel, in a fresh temporary folder as
working directory (so its ``work/`` folder starts empty and nothing is written
into the repository). A cell that raises fails the test with the cell's
traceback. Committed notebooks carry no outputs and no execution counts.

``pytest -m "not notebooks"`` leaves the (minutes-long) executions out;
``pytest --nbval-lax notebooks/`` runs them with nbval instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = [
    "01_quickstart.ipynb",
    "02_influence_explained.ipynb",
    "03_selection_playground.ipynb",
    "04_redundancy.ipynb",
    "05_learning_curves.ipynb",
    "06_real_model.ipynb",
]
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# per-cell limit: a notebook is meant to run in a few minutes on 2 CPU cores
CELL_TIMEOUT_S = 600


def read(path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)
    return notebook


def test_the_notebooks_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    notebook = read(path)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    for number, cell in enumerate(code, 1):
        assert cell.get("outputs") == [], f"code cell {number} has outputs: clear them"
        assert cell.get("execution_count") is None, f"code cell {number} has an execution count"
    # widget state is an output too (saved by JupyterLab with the notebook)
    assert "widgets" not in notebook.metadata, "saved widget state: clear it"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_opens_with_what_the_reader_will_learn(path: Path) -> None:
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# ")
    assert "What you will learn" in first.source


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    notebook = read(path)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback
    elapsed = time.perf_counter() - started
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    errors = [out for out in outputs if out.get("output_type") == "error"]
    assert not errors
    figures = [
        out
        for out in outputs
        if out.get("output_type") in ("display_data", "execute_result")
        and any(kind.startswith("application/vnd.holoviews") for kind in out.get("data", {}))
    ]
    assert figures, "the notebook showed no figure"
    print(f"{path.name}: {elapsed:.0f} s")
