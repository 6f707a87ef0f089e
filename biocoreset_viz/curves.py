"""Learning-curve tables: the ``RUN_DIR/evaluation/curves.parquet`` contract and its summary.

One row per (subset, seed, checkpoint, task, metric): the columns of
:data:`CURVE_COLUMNS` (design §5). :func:`summarize_curves` turns it into mean ± sd
over seeds, the form plots and reports use.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CURVE_COLUMNS = ("subset", "seed", "step", "tokens_seen", "task", "metric", "value")


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
        ValueError: a column of :data:`CURVE_COLUMNS` is missing.
    """
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"learning curves lack columns {missing}")
    frame = curves.copy()
    frame["checkpoint"] = (
        frame.groupby(["subset", "seed", "task", "metric"], sort=False)["step"]
        .rank(method="dense")
        .astype(np.int64)
        - 1
    )
    grouped = frame.groupby(["subset", "task", "metric", "checkpoint"], sort=True)
    summary = grouped.agg(
        step=("step", "mean"),
        tokens_seen=("tokens_seen", "mean"),
        mean=("value", "mean"),
        sd=("value", "std"),
        n_seeds=("seed", "nunique"),
    ).reset_index()
    summary["sd"] = summary["sd"].fillna(0.0)
    return summary
