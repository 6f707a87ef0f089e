"""Paired comparisons of subsets: per-seed differences, a 95% interval and a verdict.

A coreset is compared with a baseline (random of the same size, random ten times
larger, the full pool) **seed by seed**: the models of one seed start from the
same initial weights and draw their masks and batch order from the same seeded
generators (:mod:`biocoreset_viz.evaluation.runner`), so most of what varies
between seeds (the initialisation above all) cancels in the difference.

**The statistics.** For a subset ``A``, a baseline ``B``, a task and its main
metric (:data:`MAIN_METRICS`), let ``d_s = value(A, s) - value(B, s)`` be the
difference of the final values for each seed ``s`` both have, ``n`` the number of
such seeds, ``d`` their mean and ``sd`` their sample standard deviation. The 95%
confidence interval of the mean difference is the **paired t interval**
``d ± t(0.975, n - 1) · sd / √n``. It assumes the differences are roughly normal;
unlike a bootstrap it does not understate the uncertainty at the 3-10 seeds such
experiments can afford (a percentile bootstrap of five values is about a third
too narrow). The **verdict** reads the interval in the metric's direction (lower
is better for loss and perplexity, higher for the rest):

* ``better``: the whole interval lies on the good side of 0;
* ``worse``: the whole interval lies on the bad side of 0;
* ``no detectable difference``: the interval contains 0 — not evidence that the
  two are equal, only that these seeds cannot tell them apart;
* ``n = 1, no spread``: one seed gives a difference but no interval.

Each comparison is a separate 95% interval: among twenty comparisons of equal
subsets, about one will read ``better`` or ``worse`` by chance. The
:data:`COMPARISON_COLUMNS` are what ``evaluation/summary.json`` records under
``comparisons``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.results import LOWER_IS_BETTER, final_values

# the metric each task is judged by
MAIN_METRICS = {
    "mlm": "perplexity",
    "structure": "contact_precision",
    "structure_predicted": "contact_precision",
    "family": "accuracy",
    "blade": "accuracy",
}
BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference"
NO_SPREAD = "n = 1, no spread"
VERDICTS = (BETTER, WORSE, NO_DIFFERENCE, NO_SPREAD)
COMPARISON_COLUMNS = [
    "subset",
    "baseline",
    "task",
    "metric",
    "subset_mean",
    "baseline_mean",
    "mean_difference",
    "ci95_low",
    "ci95_high",
    "n_seeds",
    "verdict",
]
_RANDOM_MULTIPLE = re.compile(r"random(\d+)x")


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The paired t interval ``(low, high)`` of the mean of per-seed differences.

    ``(nan, nan)`` for one difference (no spread to estimate).

    Raises:
        ConfigError: no difference, or ``confidence`` outside (0, 1).
    """
    from scipy.stats import t as student_t

    values = np.asarray(differences, dtype=np.float64)
    if not len(values):
        raise ConfigError("no paired differences")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if len(values) == 1:
        return math.nan, math.nan
    mean = float(values.mean())
    half = float(student_t.ppf(0.5 + confidence / 2, len(values) - 1))
    half *= float(values.std(ddof=1)) / math.sqrt(len(values))
    return mean - half, mean + half


def verdict(low: float, high: float, n_seeds: int, *, lower_is_better: bool) -> str:
    """``better``, ``worse``, ``no detectable difference`` or ``n = 1, no spread``
    for an interval of ``subset - baseline`` (see the module docstring)."""
    if n_seeds < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return NO_SPREAD
    if low <= 0 <= high:
        return NO_DIFFERENCE
    above = low > 0
    return BETTER if above != lower_is_better else WORSE


def _baseline_rank(name: str) -> float | None:
    """Where a subset stands among the baselines (random < random<K>x < full), or None."""
    if name == "random":
        return 1.0
    match = _RANDOM_MULTIPLE.fullmatch(name)
    if match:
        return float(match.group(1))
    return math.inf if name == "full" else None


def default_baselines(
    subsets: Iterable[str], aliases: Mapping[str, str] | None = None
) -> list[str]:
    """The baselines among ``subsets``: ``random``, ``random<K>x`` (by K), ``full``;
    a subset that is an alias of another (``random10x`` = ``full`` on a small pool)
    is left out."""
    aliases = aliases or {}
    found = [s for s in dict.fromkeys(subsets) if _baseline_rank(s) is not None]
    return sorted((s for s in found if s not in aliases), key=_baseline_rank)


def _pairs(subsets: list[str], baselines: list[str]) -> list[tuple[str, str]]:
    """(subset, baseline) pairs: every subset against every baseline; a baseline only
    against the larger baselines after it (so no pair appears twice)."""
    order = {b: i for i, b in enumerate(baselines)}
    return [
        (subset, baseline)
        for subset in subsets
        for baseline in baselines
        if subset != baseline and (subset not in order or order[subset] < order[baseline])
    ]


def main_metrics(curves: pd.DataFrame) -> list[tuple[str, str]]:
    """``(task, metric)`` of every task in the curves whose main metric they hold."""
    present = set(zip(curves["task"], curves["metric"], strict=True))
    return [(t, m) for t, m in MAIN_METRICS.items() if (t, m) in present]


def compare_subsets(
    values: pd.DataFrame,
    *,
    subsets: Sequence[str] | None = None,
    baselines: Sequence[str] | None = None,
    aliases: Mapping[str, str] | None = None,
    metrics: Sequence[tuple[str, str]] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Paired comparisons of subsets with baselines (see the module docstring).

    Args:
        values: one value per ``subset``, ``seed``, ``task`` and ``metric`` in a
            ``value`` column: a curves table's final values
            (:func:`~biocoreset_viz.evaluation.results.final_values`, what
            :func:`compare_final` passes) or any other per-seed statistic (the area
            under the curve of :func:`~biocoreset_viz.evaluation.curve_summary.curve_metrics`).
        subsets: the subsets compared, in order (default: as they appear); aliases
            are dropped.
        baselines: what they are compared against (default :func:`default_baselines`).
        aliases: subset -> the subset it equals (``EvaluationResult.aliases``).
        metrics: ``(task, metric)`` pairs (default :func:`main_metrics`).
        confidence: of the intervals (the columns keep the name ``ci95_*``).

    Returns:
        The :data:`COMPARISON_COLUMNS`, one row per (subset, baseline, task,
        metric) with at least one seed in common.

    Raises:
        ConfigError: a baseline that is not among the values.
    """
    aliases = dict(aliases or {})
    present = list(dict.fromkeys(values["subset"]))
    order = [s for s in (subsets if subsets is not None else present) if s not in aliases]
    chosen = list(baselines) if baselines is not None else default_baselines(present, aliases)
    missing = [b for b in chosen if b not in present]
    if missing:
        raise ConfigError(f"no subset {missing[0]!r} to compare against; have {present}")
    metrics = list(metrics) if metrics is not None else main_metrics(values)
    table = values.set_index(["task", "metric", "subset", "seed"])["value"].sort_index()
    rows = []
    for task, metric in metrics:
        for subset, baseline in _pairs([s for s in order if s in present], chosen):
            try:
                mine = table.loc[(task, metric, subset)]
                theirs = table.loc[(task, metric, baseline)]
            except KeyError:
                continue
            paired = pd.concat([mine, theirs], axis=1, join="inner").dropna()
            if paired.empty:
                continue
            differences = paired.iloc[:, 0] - paired.iloc[:, 1]
            low, high = paired_interval(differences.to_numpy(), confidence)
            rows.append(
                {
                    "subset": subset,
                    "baseline": baseline,
                    "task": task,
                    "metric": metric,
                    "subset_mean": float(paired.iloc[:, 0].mean()),
                    "baseline_mean": float(paired.iloc[:, 1].mean()),
                    "mean_difference": float(differences.mean()),
                    "ci95_low": low,
                    "ci95_high": high,
                    "n_seeds": len(paired),
                    "verdict": verdict(
                        low, high, len(paired), lower_is_better=(task, metric) in LOWER_IS_BETTER
                    ),
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def compare_final(curves: pd.DataFrame, **options) -> pd.DataFrame:
    """:func:`compare_subsets` on the final values of a curves table (each part's last step)."""
    return compare_subsets(final_values(curves), **options)


def comparison_records(table: pd.DataFrame) -> list[dict]:
    """A comparisons table as JSON-ready records (an undefined interval bound is ``None``)."""
    records = table.to_dict("records")
    for record in records:
        for key in ("ci95_low", "ci95_high"):
            if not math.isfinite(record[key]):
                record[key] = None
        record["n_seeds"] = int(record["n_seeds"])
    return records


def format_comparisons(table: pd.DataFrame, digits: int = 3) -> str:
    """A comparisons table as Markdown: difference, 95% interval and verdict per row."""
    lines = [
        "| subset | vs | task metric | subset | baseline | difference | 95% CI | seeds | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples(index=False):
        arrow = " ↓" if (row.task, row.metric) in LOWER_IS_BETTER else " ↑"
        if math.isfinite(row.ci95_low):
            interval = f"[{row.ci95_low:+.{digits}f}, {row.ci95_high:+.{digits}f}]"
        else:
            interval = NO_SPREAD
        lines.append(
            f"| {row.subset} | {row.baseline} | {row.task} {row.metric}{arrow} | "
            f"{row.subset_mean:.{digits}f} | {row.baseline_mean:.{digits}f} | "
            f"{row.mean_difference:+.{digits}f} | {interval} | {row.n_seeds} | {row.verdict} |"
        )
    return "\n".join(lines)
