"""Summary metrics of learning curves: the area under them and the tokens to a target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.evaluation import (
    CURVE_COLUMNS,
    curve_area,
    curve_metrics,
    summarize_curve_metrics,
    tokens_to_reach,
)


def test_the_area_is_the_mean_value_over_the_tokens() -> None:
    assert curve_area(np.array([0, 100, 200]), np.array([2.0, 2.0, 2.0])) == 2.0
    # a straight line from 10 to 0 over 100 tokens averages 5
    assert curve_area(np.array([0, 50, 100]), np.array([10.0, 5.0, 0.0])) == 5.0
    # uneven checkpoints are weighted by the tokens between them
    assert curve_area(np.array([0, 10, 100]), np.array([0.0, 1.0, 1.0])) == pytest.approx(0.95)
    assert curve_area(np.array([0]), np.array([3.0])) == 3.0


def test_tokens_to_reach_interpolates_in_the_metrics_direction() -> None:
    tokens = np.array([0, 100, 200])
    perplexity = np.array([20.0, 10.0, 5.0])
    assert tokens_to_reach(tokens, perplexity, 15.0, lower_is_better=True) == 50.0
    assert tokens_to_reach(tokens, perplexity, 5.0, lower_is_better=True) == 200.0
    assert np.isnan(tokens_to_reach(tokens, perplexity, 4.0, lower_is_better=True))
    accuracy = np.array([0.2, 0.4, 0.5])
    assert tokens_to_reach(tokens, accuracy, 0.45, lower_is_better=False) == pytest.approx(150.0)
    assert tokens_to_reach(tokens, accuracy, 0.1, lower_is_better=False) == 0.0


def test_curve_metrics_default_to_randoms_final_value_as_the_target() -> None:
    rows = []
    for subset, final in {"random": 10.0, "cci": 8.0}.items():
        for seed in (0, 1):
            for step, tokens, value in ((0, 0, 20.0), (5, 500, 12.0), (10, 1000, final)):
                rows.append((subset, seed, step, tokens, "mlm", "perplexity", value))
    per_curve = curve_metrics(pd.DataFrame(rows, columns=list(CURVE_COLUMNS)))
    cci = per_curve[per_curve["subset"] == "cci"].iloc[0]
    assert cci["target"] == 10.0 and cci["final"] == 8.0
    assert cci["tokens_to_target"] == pytest.approx(500 + 500 * 2 / 4)  # 12 -> 8 passes 10
    assert cci["area"] == pytest.approx((16 * 500 + 10 * 500) / 1000)
    summary = summarize_curve_metrics(per_curve).set_index("subset")
    assert summary.loc["random", "reached"] == 2
    assert summary.loc["random", "tokens_to_target_mean"] == 1000.0
    assert summary.loc["cci", "final_sd"] == 0.0
