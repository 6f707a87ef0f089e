"""Results tables from learning curves: final metrics, the comparison table, a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation import (
    CURVE_COLUMNS,
    final_metrics,
    format_table,
    results_table,
    versus_baseline,
)


def _curves() -> pd.DataFrame:
    """Two seeds of two subsets: before training, and at their (different) last steps."""
    rows = []
    for subset, finals in {"random": [4.0, 4.2], "cci": [3.0, 3.4]}.items():
        for seed, value in enumerate(finals):
            last = 10 + seed  # the seeds stop at different steps
            rows.append((subset, seed, 0, 0, "mlm", "perplexity", 20.0 + seed))
            rows.append((subset, seed, 0, 0, "family", "accuracy", 0.25))
            rows.append((subset, seed, 5, 500, "mlm", "perplexity", 9.0))
            rows.append((subset, seed, last, 100 * last, "mlm", "perplexity", value))
            rows.append((subset, seed, last, 100 * last, "family", "accuracy", 0.5))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def test_final_metrics_are_each_seeds_last_step_with_the_untrained_floor() -> None:
    final = final_metrics(_curves(), untrained=True).set_index(["subset", "task", "metric"])
    cci = final.loc[("cci", "mlm", "perplexity")]
    assert cci["mean"] == pytest.approx(3.2)
    assert cci["sd"] == pytest.approx(np.std([3.0, 3.4], ddof=1))
    assert (cci["n_seeds"], cci["step"], cci["tokens_seen"]) == (2, 10.5, 1050.0)
    untrained = final.loc[("untrained", "mlm", "perplexity")]
    assert (untrained["mean"], untrained["step"]) == (20.5, 0)
    assert list(final_metrics(_curves().iloc[:0]).columns) == [
        "subset", "task", "metric", "mean", "sd", "n_seeds", "step", "tokens_seen"
    ]  # fmt: skip


def test_the_results_table_reads_mean_and_sd_with_directions() -> None:
    table = results_table(_curves(), subsets=["cci", "random"], digits=2)
    assert list(table.index) == ["untrained", "cci", "random"]
    assert list(table.columns) == ["seeds", "steps", "family accuracy ↑", "mlm perplexity ↓"]
    assert table.loc["cci", "mlm perplexity ↓"] == "3.20 ± 0.28"
    assert table.loc["random", "steps"] == 10  # the mean of 10 and 11, rounded half to even
    assert format_table(table).splitlines()[:3] == [
        "| subset | seeds | steps | family accuracy ↑ | mlm perplexity ↓ |",
        "|---|---|---|---|---|",
        "| untrained | 2 | 0 | 0.25 ± 0.00 | 20.50 ± 0.71 |",
    ]


def test_versus_baseline_reads_differences_against_the_seeds_spread() -> None:
    # final perplexity per (subset, seed); a step-0 row first, which must be ignored
    final = {
        "random": [4.0, 4.2],  # mean 4.1, sd 0.1414
        "cci": [4.05, 4.15],  # mean 4.1: within the spread
        "topi": [4.9, 5.1],  # mean 5.0: beyond it, worse (perplexity: lower is better)
        "full": [3.5, 3.52],  # mean 3.51: beyond it, better
    }
    rows = []
    for subset, values in final.items():
        for seed, value in enumerate(values):
            rows.append((subset, seed, 0, 0, "mlm", "perplexity", 20.0))
            rows.append((subset, seed, 10, 1000, "mlm", "perplexity", value))
            rows.append((subset, seed, 10, 1000, "family", "accuracy", 0.5 + 0.1 * seed))
    curves = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    table = versus_baseline(curves).set_index("subset")
    assert list(table.index) == ["cci", "topi", "full"]
    spread = np.std([4.0, 4.2], ddof=1)
    assert table.loc["cci", "difference"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["topi", "spread"] == pytest.approx(spread + np.std([4.9, 5.1], ddof=1))
    assert table["beyond_spread"].tolist() == [False, True, True]
    assert table["better"].tolist() == [False, False, True]
    accuracy = versus_baseline(curves, task="family", metric="accuracy")
    assert not accuracy["beyond_spread"].any()  # identical per seed: no difference
    with pytest.raises(ConfigError, match="no subset 'random10x'"):
        versus_baseline(curves, baseline="random10x")
    with pytest.raises(ConfigError, match="no structure f1"):
        versus_baseline(curves, task="structure", metric="f1")
