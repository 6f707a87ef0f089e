"""Summary metrics of each learning curve beside its final value: the area under it and the
tokens it needs to reach a target.

For one (subset, seed, task, metric) curve, with values ``v_k`` at the
checkpoints' ``tokens_seen`` ``t_k`` (``t_0 = 0``, before training):

* ``final``: the value at the last checkpoint;
* ``area``: the area under the curve per token, ``∫ v dt / (t_last - t_0)`` by the
  trapezoidal rule: the mean value over training, in the metric's own units. It
  rewards getting good early as well as ending good. Under ``budget="tokens"``
  every subset spans the same tokens, so areas compare directly; under the other
  budgets each curve is averaged over its own span;
* ``tokens_to_target``: the tokens seen when the curve first reaches the target
  (at least the target, or at most it for loss and perplexity), linearly
  interpolated between checkpoints; NaN when it never does. The default target
  of a task and metric is the baseline subset's (``random``) mean final value:
  "how many tokens does this subset need to get where random ends up?".

Pure functions of a curves table; no model is needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from biocoreset_viz.evaluation.results import LOWER_IS_BETTER, final_metrics

CURVE_METRIC_COLUMNS = [
    "subset",
    "seed",
    "task",
    "metric",
    "final",
    "area",
    "target",
    "tokens_to_target",
    "tokens_seen",
]
DEFAULT_TARGET_SUBSET = "random"


def curve_area(tokens: np.ndarray, values: np.ndarray) -> float:
    """Trapezoidal area under ``values`` over ``tokens``, per token (the final value when
    the curve spans no tokens)."""
    tokens = np.asarray(tokens, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    span = tokens[-1] - tokens[0]
    if span <= 0:
        return float(values[-1])
    return float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(tokens)) / span)


def tokens_to_reach(
    tokens: np.ndarray, values: np.ndarray, target: float, *, lower_is_better: bool
) -> float:
    """Tokens at which the curve first reaches ``target``, interpolated linearly between
    checkpoints; NaN when it never does."""
    tokens = np.asarray(tokens, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    signed = -values if lower_is_better else values
    goal = -target if lower_is_better else target
    reached = np.flatnonzero(signed >= goal)
    if not len(reached):
        return float("nan")
    k = int(reached[0])
    if k == 0 or signed[k] == signed[k - 1]:
        return float(tokens[k])
    share = (goal - signed[k - 1]) / (signed[k] - signed[k - 1])
    return float(tokens[k - 1] + share * (tokens[k] - tokens[k - 1]))


def default_targets(
    curves: pd.DataFrame, subset: str = DEFAULT_TARGET_SUBSET
) -> dict[tuple[str, str], float]:
    """Each task and metric's target: the mean final value of ``subset`` (else of the
    first subset in the curves)."""
    final = final_metrics(curves)
    if final.empty:
        return {}
    chosen = subset if subset in set(final["subset"]) else str(curves["subset"].iloc[0])
    rows = final[final["subset"] == chosen]
    return {
        (t, m): float(v) for t, m, v in zip(rows["task"], rows["metric"], rows["mean"], strict=True)
    }


def curve_metrics(
    curves: pd.DataFrame, *, targets: Mapping[tuple[str, str], float] | None = None
) -> pd.DataFrame:
    """Final value, area and tokens to target of every learning curve (module docstring).

    Args:
        curves: a curves table.
        targets: ``(task, metric) -> value`` (default :func:`default_targets`).

    Returns:
        The :data:`CURVE_METRIC_COLUMNS`, one row per (subset, seed, task, metric);
        ``tokens_seen`` is the curve's last.
    """
    targets = dict(targets) if targets is not None else default_targets(curves)
    rows = []
    ordered = curves.sort_values(["subset", "seed", "task", "metric", "step"])
    for (subset, seed, task, metric), curve in ordered.groupby(
        ["subset", "seed", "task", "metric"], sort=False
    ):
        tokens = curve["tokens_seen"].to_numpy()
        values = curve["value"].to_numpy()
        target = targets.get((task, metric), float("nan"))
        reach = (
            tokens_to_reach(
                tokens, values, target, lower_is_better=(task, metric) in LOWER_IS_BETTER
            )
            if np.isfinite(target)
            else float("nan")
        )
        rows.append(
            {
                "subset": subset,
                "seed": int(seed),
                "task": task,
                "metric": metric,
                "final": float(values[-1]),
                "area": curve_area(tokens, values),
                "target": target,
                "tokens_to_target": reach,
                "tokens_seen": int(tokens[-1]),
            }
        )
    return pd.DataFrame(rows, columns=CURVE_METRIC_COLUMNS)


def summarize_curve_metrics(per_curve: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over seeds of :func:`curve_metrics`, per subset, task and metric.

    Returns:
        ``subset``, ``task``, ``metric``, ``n_seeds``, ``final_mean``, ``final_sd``,
        ``area_mean``, ``area_sd``, ``target``, ``reached`` (seeds that reached the
        target) and ``tokens_to_target_mean`` (over the seeds that reached it).
    """
    grouped = per_curve.groupby(["subset", "task", "metric"], sort=False)
    table = grouped.agg(
        n_seeds=("seed", "nunique"),
        final_mean=("final", "mean"),
        final_sd=("final", "std"),
        area_mean=("area", "mean"),
        area_sd=("area", "std"),
        target=("target", "first"),
        reached=("tokens_to_target", "count"),
        tokens_to_target_mean=("tokens_to_target", "mean"),
    ).reset_index()
    return table.fillna({"final_sd": 0.0, "area_sd": 0.0})


def area_values(per_curve: pd.DataFrame) -> pd.DataFrame:
    """The per-seed areas as a ``value`` table, for paired comparisons
    (:func:`~biocoreset_viz.evaluation.comparisons.compare_subsets`)."""
    return per_curve[["subset", "seed", "task", "metric", "area"]].rename(columns={"area": "value"})
