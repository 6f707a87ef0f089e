"""Results tables from learning curves: final metrics over seeds, the comparison table, a baseline.

Pure functions of a curves table (:mod:`biocoreset_viz.evaluation.curves`); no
model is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.curves import seed_statistics

UNTRAINED = "untrained"
METRIC_SUMMARY_COLUMNS = [
    "subset",
    "task",
    "metric",
    "mean",
    "sd",
    "n_seeds",
    "step",
    "tokens_seen",
]
# metrics where smaller is better (the table marks the direction)
LOWER_IS_BETTER = frozenset({("mlm", "loss"), ("mlm", "perplexity")})


def _aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    return seed_statistics(rows, ["subset", "task", "metric"])[METRIC_SUMMARY_COLUMNS]


def final_values(curves: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (subset, seed)'s last step: its final value of every task and metric.

    Seeds of one subset may stop at different steps (a random subset's batches
    differ); each seed's own last step is taken.
    """
    last = curves.groupby(["subset", "seed"])["step"].transform("max")
    return curves[curves["step"] == last]


def final_metrics(curves: pd.DataFrame, *, untrained: bool = False) -> pd.DataFrame:
    """Each subset's metrics at the end of training: mean, sd and count over seeds.

    Args:
        curves: a curves table.
        untrained: add a subset ``"untrained"``: the models before training (step
            0; every subset of a seed starts from the same weights), the floor that
            pretraining must beat.

    Returns:
        ``subset``, ``task``, ``metric``, ``mean``, ``sd`` (sample standard
        deviation over seeds; 0 for one seed), ``n_seeds``, ``step`` and
        ``tokens_seen`` (means over seeds).
    """
    if curves.empty:
        return pd.DataFrame(columns=METRIC_SUMMARY_COLUMNS)
    table = _aggregate(final_values(curves))
    if untrained:
        start = curves[curves["step"] == 0].drop_duplicates(["seed", "task", "metric"])
        if len(start):
            table = pd.concat([_aggregate(start.assign(subset=UNTRAINED)), table])
    return table.reset_index(drop=True)


def results_table(
    curves: pd.DataFrame,
    *,
    subsets: Sequence[str] | None = None,
    digits: int = 3,
    untrained: bool = True,
) -> pd.DataFrame:
    """The final metrics as text, ``mean ± sd``: one row per subset, one column per task/metric.

    Arrows in the column names say whether higher or lower is better. A value of
    one seed reads ``value (n = 1)``: one seed has no spread, so no ``± 0``.

    Args:
        curves: a curves table.
        subsets: row order (default: as they first appear).
        digits: decimals.
        untrained: start with a row for the models before training (see
            :func:`final_metrics`).
    """
    final = final_metrics(curves, untrained=untrained)
    order = list(subsets) if subsets is not None else list(dict.fromkeys(curves["subset"]))
    order = [UNTRAINED, *order] if untrained else order
    final["cell"] = [
        f"{m:.{digits}f} ± {s:.{digits}f}" if n > 1 else f"{m:.{digits}f} (n = 1)"
        for m, s, n in zip(final["mean"], final["sd"], final["n_seeds"], strict=True)
    ]
    final["column"] = [
        f"{t} {m}" + (" ↓" if (t, m) in LOWER_IS_BETTER else " ↑")
        for t, m in zip(final["task"], final["metric"], strict=True)
    ]
    wide = final.pivot(index="subset", columns="column", values="cell")
    seeds = final.groupby("subset")["n_seeds"].max()
    steps = final.groupby("subset")["step"].max().round().astype(int)
    wide.insert(0, "steps", steps)
    wide.insert(0, "seeds", seeds)
    return wide.reindex([s for s in order if s in wide.index])


def versus_baseline(
    curves: pd.DataFrame,
    *,
    baseline: str = "random",
    task: str = "mlm",
    metric: str = "perplexity",
) -> pd.DataFrame:
    """Each subset's final metric against a baseline subset, with the seeds' spread.

    A difference is only worth reading when it is larger than the noise between
    seeds: ``beyond_spread`` says whether ``|difference|`` exceeds ``spread``, the
    sum of the two subsets' standard deviations over seeds (a rough yardstick,
    not a significance test; with one seed both are 0 and nothing is within it).

    Args:
        curves: a curves table.
        baseline: the subset compared against (e.g. ``"random"``: random of the
            coreset's size).
        task, metric: which final metric (e.g. ``"mlm"``, ``"perplexity"``).

    Returns:
        One row per other subset, in the order of the curves: ``subset``,
        ``mean``, ``sd``, ``n_seeds``, ``difference`` (subset minus baseline),
        ``spread``, ``beyond_spread`` and ``better`` (beyond the spread and in the
        metric's good direction: lower for loss and perplexity, else higher).

    Raises:
        ConfigError: the baseline or the task/metric is not in the curves.
    """
    final = final_metrics(curves)
    rows = final[(final["task"] == task) & (final["metric"] == metric)].set_index("subset")
    if rows.empty:
        raise ConfigError(f"the curves have no {task} {metric}")
    if baseline not in rows.index:
        raise ConfigError(f"no subset {baseline!r} with {task} {metric}; have {sorted(rows.index)}")
    base = rows.loc[baseline]
    order = [s for s in dict.fromkeys(curves["subset"]) if s in rows.index and s != baseline]
    table = rows.loc[order, ["mean", "sd", "n_seeds"]].reset_index()
    table["difference"] = table["mean"] - base["mean"]
    table["spread"] = table["sd"] + base["sd"]
    table["beyond_spread"] = table["difference"].abs() > table["spread"]
    sign = -1.0 if (task, metric) in LOWER_IS_BETTER else 1.0
    table["better"] = table["beyond_spread"] & (sign * table["difference"] > 0)
    return table


def format_table(table: pd.DataFrame) -> str:
    """A results table as Markdown (no extra dependency)."""
    header = ["subset", *[str(c) for c in table.columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for subset, row in table.iterrows():
        lines.append("| " + " | ".join([str(subset), *[str(v) for v in row.tolist()]]) + " |")
    return "\n".join(lines)
