"""Learning-curve tables: the ``RUN_DIR/evaluation/curves.parquet`` contract, its reader and summary.

One row per (subset, seed, checkpoint, task, metric): the columns of
:data:`CURVE_COLUMNS` (design §5). :func:`load_curves` is the one reader of the
file; :func:`summarize_curves` turns a table into mean ± sd over seeds, the form
plots and reports use. Nothing here imports torch, so the dashboard can read
curves without it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.runs import CURVES_NAME, EVALUATION_DIR, atomic_write_bytes, curves_path

CURVE_COLUMNS = ("subset", "seed", "step", "tokens_seen", "task", "metric", "value")
# kept when present: the budget each curve was trained under (epochs, steps, tokens)
OPTIONAL_CURVE_COLUMNS = ("budget",)
CURVE_DTYPES = {
    "subset": str,
    "seed": np.int64,
    "step": np.int64,
    "tokens_seen": np.int64,
    "task": str,
    "metric": str,
    "value": np.float64,
}


def curves_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a curves table with the contract's columns and dtypes, plus the
    :data:`OPTIONAL_CURVE_COLUMNS` the rows carry."""
    rows = list(rows)
    extra = [c for c in OPTIONAL_CURVE_COLUMNS if any(c in row for row in rows)]
    frame = pd.DataFrame(rows, columns=[*CURVE_COLUMNS, *extra])
    return frame.astype({**CURVE_DTYPES, **dict.fromkeys(extra, str)})


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    """Write a table to ``path`` as Parquet, atomically (whole or absent)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue())


def find_curves(run_or_evaluation_dir: str | Path) -> Path | None:
    """The ``curves.parquet`` of a run directory or of an evaluation directory, or ``None``."""
    base = Path(run_or_evaluation_dir)
    for path in (curves_path(base), base / CURVES_NAME):
        if path.is_file():
            return path
    return None


def load_curves(run_or_evaluation_dir: str | Path) -> pd.DataFrame:
    """``curves.parquet`` of a run directory or of an evaluation directory.

    Raises:
        RunDirectoryError: there is none.
    """
    path = find_curves(run_or_evaluation_dir)
    if path is None:
        raise RunDirectoryError(
            f"{Path(run_or_evaluation_dir)}: no {EVALUATION_DIR}/{CURVES_NAME} "
            "(run `biocoreset evaluate`)"
        )
    return curves_frame(pd.read_parquet(path).to_dict("records"))


def seed_statistics(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Per group of ``keys``: mean ``step`` and ``tokens_seen``, and ``mean``, ``sd``
    (sample standard deviation; 0 for one seed) and ``n_seeds`` of the values."""
    grouped = rows.groupby(list(keys), sort=True)
    table = grouped.agg(
        step=("step", "mean"),
        tokens_seen=("tokens_seen", "mean"),
        mean=("value", "mean"),
        sd=("value", "std"),
        n_seeds=("seed", "nunique"),
    ).reset_index()
    table["sd"] = table["sd"].fillna(0.0)
    return table


def summarize_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each subset's learning curve: plot-ready.

    Seeds of one subset may stop at slightly different steps (a random subset's
    batches differ), so points are matched by checkpoint number (0 = before
    training) and placed at the mean step and mean tokens seen.

    Returns:
        ``subset``, ``task``, ``metric``, ``checkpoint``, ``step``, ``tokens_seen``
        (means over seeds), ``mean``, ``sd`` (sample standard deviation; 0 for one
        seed) and ``n_seeds``.

    Raises:
        InputError: a column of :data:`CURVE_COLUMNS` is missing.
    """
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise InputError(f"learning curves lack columns {missing}")
    frame = curves.copy()
    frame["checkpoint"] = (
        frame.groupby(["subset", "seed", "task", "metric"], sort=False)["step"]
        .rank(method="dense")
        .astype(np.int64)
        - 1
    )
    return seed_statistics(frame, ["subset", "task", "metric", "checkpoint"])
