"""Paired comparisons on known answers: equal subsets, a better and a worse one, one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation import (
    COMPARISON_COLUMNS,
    CURVE_COLUMNS,
    compare_final,
    default_baselines,
    format_comparisons,
    paired_interval,
    results_table,
    verdict,
    versus_baseline,
)
from biocoreset_viz.evaluation.comparisons import NO_SPREAD, comparison_records


def _curves(finals: dict[str, list[float]], metric=("mlm", "perplexity")) -> pd.DataFrame:
    """A curves table: per subset and seed, a step-0 value and the given final value."""
    task, name = metric
    rows = []
    for subset, values in finals.items():
        for seed, value in enumerate(values):
            rows.append((subset, seed, 0, 0, task, name, 20.0))
            rows.append((subset, seed, 10, 1000, task, name, value))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _seed_effects(n: int = 5) -> np.ndarray:
    """Large differences between seeds (as initial weights make), shared by all subsets."""
    return np.random.default_rng(0).normal(0.0, 0.5, n)


def test_identical_subsets_have_an_interval_holding_zero_and_no_verdict() -> None:
    base = 4.0 + _seed_effects()
    noise = np.random.default_rng(1).normal(0.0, 0.02, (2, 5))
    table = compare_final(
        _curves({"cci": list(base), "random": list(base)}), baselines=["random"]
    ).set_index("subset")
    assert table.loc["cci", "ci95_low"] == table.loc["cci", "ci95_high"] == 0.0
    assert table.loc["cci", "verdict"] == "no detectable difference"
    # the same subset up to small independent noise: the interval still holds 0
    noisy = _curves({"cci": list(base + noise[0]), "random": list(base + noise[1])})
    row = compare_final(noisy, baselines=["random"]).iloc[0]
    assert row["ci95_low"] < 0 < row["ci95_high"]
    assert row["verdict"] == "no detectable difference"


def test_a_constructed_better_subset_is_better_and_a_worse_one_worse() -> None:
    base = 4.0 + _seed_effects()
    noise = np.random.default_rng(2).normal(0.0, 0.02, (3, 5))
    curves = _curves(
        {
            "cci": list(base - 0.2 + noise[0]),  # lower perplexity in every seed: better
            "topi": list(base + 0.2 + noise[1]),  # higher: worse
            "random": list(base + noise[2]),
        }
    )
    table = compare_final(curves).set_index("subset")
    assert table.loc["cci", "verdict"] == "better"
    assert table.loc["topi", "verdict"] == "worse"
    assert table.loc["cci", "mean_difference"] == pytest.approx(-0.2, abs=0.03)
    assert table.loc["cci", "ci95_high"] < 0
    # the seeds' spread (sd 0.5) hides the 0.2 difference from an unpaired reading
    assert not versus_baseline(curves).set_index("subset").loc["cci", "beyond_spread"]
    # higher is better for accuracy: a higher accuracy is better
    accuracy = _curves(
        {"cci": list(0.6 + noise[0]), "random": list(0.5 + noise[2])}, ("family", "accuracy")
    )
    assert compare_final(accuracy).iloc[0]["verdict"] == "better"


def test_the_interval_is_the_paired_t_interval() -> None:
    differences = np.array([0.3, -0.1, 0.25, 0.05, 0.4])
    low, high = paired_interval(differences)
    expected = stats.ttest_1samp(differences, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high))
    assert verdict(low, high, 5, lower_is_better=False) == "no detectable difference"
    assert verdict(0.1, 0.3, 5, lower_is_better=False) == "better"
    assert verdict(0.1, 0.3, 5, lower_is_better=True) == "worse"
    with pytest.raises(ConfigError, match="no paired differences"):
        paired_interval([])


def test_one_seed_gives_the_difference_with_no_spread_never_plus_minus_zero() -> None:
    curves = _curves({"cci": [3.9], "random": [4.0]})
    table = compare_final(curves)
    row = table.iloc[0]
    assert row["mean_difference"] == pytest.approx(-0.1)
    assert np.isnan(row["ci95_low"]) and row["verdict"] == NO_SPREAD == "n = 1, no spread"
    record = comparison_records(table)[0]
    assert set(COMPARISON_COLUMNS) <= set(record)
    assert record["ci95_low"] is None and record["n_seeds"] == 1
    text = format_comparisons(table)
    assert "n = 1, no spread" in text and "±" not in text
    cell = results_table(curves).loc["cci", "mlm perplexity ↓"]
    assert cell == "3.900 (n = 1)"


def test_baselines_and_pairs_skip_aliases_and_never_repeat() -> None:
    assert default_baselines(["cci", "full", "random10x", "random"], {"random10x": "full"}) == [
        "random",
        "full",
    ]
    assert default_baselines(["random5x", "random", "random20x"]) == [
        "random",
        "random5x",
        "random20x",
    ]
    finals = {s: [4.0, 4.1, 4.2] for s in ("cci", "random", "random10x", "full")}
    table = compare_final(_curves(finals), aliases={"random10x": "full"})
    pairs = list(zip(table["subset"], table["baseline"], strict=True))
    assert pairs == [("cci", "random"), ("cci", "full"), ("random", "full")]
    with pytest.raises(ConfigError, match="no subset 'random2x'"):
        compare_final(_curves(finals), baselines=["random2x"])


def test_only_the_seeds_both_subsets_have_are_paired() -> None:
    curves = _curves({"cci": [3.0, 3.1, 3.2], "random": [4.0, 4.1]})
    row = compare_final(curves).iloc[0]
    assert row["n_seeds"] == 2
    assert row["mean_difference"] == pytest.approx(-1.0)
