"""Score variants: the length adjustment on synthetic scores with a known length effect, and
the variants a score table offers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.score_variants import (
    available_scores,
    known_scores,
    length_adjusted,
    length_correlation,
    score_values,
)


def _planted(n: int = 5000, seed: int = 0):
    """Scores with a strong length effect (a power law, as a mean-reduced loss gives) and a
    planted non-length effect: a fifth of the sequences, at every length, are e (2.7) times
    more influential."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 400, n).astype(float)
    special = rng.random(n) < 0.2
    scores = np.exp(-1.5 * np.log(lengths) + 1.0 * special + 0.5 * rng.normal(size=n))
    return scores, lengths, special


@pytest.mark.parametrize("method", ["isotonic", "bins"])
def test_the_adjustment_removes_a_planted_length_effect_and_keeps_the_rest(method) -> None:
    scores, lengths, special = _planted()
    assert length_correlation(scores, lengths) < -0.7
    adjusted = length_adjusted(scores, lengths, method=method)
    assert abs(length_correlation(adjusted, lengths)) < 0.03
    assert (adjusted > 0).all()
    # the planted effect survives: the special fifth still ranks far higher
    assert spearmanr(adjusted, special).statistic > 0.4
    assert np.median(adjusted[special]) > 2 * np.median(adjusted[~special])
    # and a top-20% selection on the adjusted score picks special ones at every length
    top = adjusted >= np.quantile(adjusted, 0.8)
    assert special[top].mean() > 0.5
    short, long = lengths < 100, lengths > 300
    assert abs(top[short].mean() - top[long].mean()) < 0.05


def test_isotonic_adjustment_reads_as_a_ratio_to_the_typical_score() -> None:
    lengths = np.repeat([10.0, 20.0, 40.0], 3)
    scores = np.array([8, 10, 12, 4, 5, 6, 2, 2.5, 3.0])  # typical 10, 5, 2.5 (medians)
    adjusted = length_adjusted(scores, lengths)
    assert adjusted == pytest.approx([0.8, 1.0, 1.2] * 3)
    # an increasing effect is fitted as such
    assert length_adjusted(scores[::-1], lengths) == pytest.approx([1.2, 1.0, 0.8] * 3)


def test_a_saturating_effect_as_truncation_makes_is_removed() -> None:
    rng = np.random.default_rng(3)
    lengths = rng.integers(10, 3000, 4000).astype(float)
    scored = np.minimum(lengths, 128)  # the model sees at most 128 residues
    scores = np.exp(-np.log(scored) + 0.4 * rng.normal(size=4000))
    adjusted = length_adjusted(scores, lengths)
    assert abs(length_correlation(adjusted, lengths)) < 0.03


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match="3 scores for 2 lengths"):
        length_adjusted([1.0, 2.0, 3.0], [1, 2])
    with pytest.raises(InputError, match="scores >= 0"):
        length_adjusted([1.0, -2.0], [1, 2])
    with pytest.raises(InputError, match="finite"):
        length_adjusted([1.0, np.nan], [1, 2])
    with pytest.raises(ConfigError, match="method must be 'isotonic' or 'bins'"):
        length_adjusted([1.0, 2.0], [1, 2], method="loess")
    with pytest.raises(ConfigError, match="n_bins must be an integer >= 1"):
        length_adjusted([1.0, 2.0], [1, 2], method="bins", n_bins=0)


def test_a_table_offers_its_columns_and_their_length_adjusted_versions() -> None:
    scores, lengths, _ = _planted(200)
    frame = pd.DataFrame(
        {"id": [f"s{i}" for i in range(200)], "length": lengths, "self_influence": scores,
         "loss": scores / 2}
    )  # fmt: skip
    assert available_scores(frame.columns) == [
        "self_influence", "loss", "length_adjusted", "loss_length_adjusted"
    ]  # fmt: skip
    assert "gradient_norm" in known_scores()
    assert np.array_equal(score_values(frame, "loss"), scores / 2)
    adjusted = score_values(frame, "length_adjusted")
    assert adjusted == pytest.approx(length_adjusted(scores, lengths))
    with pytest.raises(ConfigError, match="needs the column.*gradient_norm.*available"):
        score_values(frame, "gradient_norm")
    with pytest.raises(ConfigError, match="unknown score 'influence'"):
        score_values(frame, "influence")


def test_the_demo_runs_length_effect_is_removed() -> None:
    from biocoreset_viz.demo import demo_run_path
    from biocoreset_viz.runs import ScoreTable

    frame = ScoreTable.load(demo_run_path(), embeddings=False).frame
    assert length_correlation(frame["self_influence"], frame["length"]) < -0.6
    assert abs(length_correlation(score_values(frame, "length_adjusted"), frame["length"])) < 0.05


def test_the_length_trend_is_the_typical_score_the_adjustment_divides_by() -> None:
    from biocoreset_viz.score_variants import length_trend

    lengths = np.repeat([10.0, 20.0, 40.0], 3)
    scores = np.array([8, 10, 12, 4, 5, 6, 2, 2.5, 3.0])
    trend = length_trend(scores, lengths)
    assert trend["length"].tolist() == [10.0, 20.0, 40.0]
    assert trend["typical"].to_numpy() == pytest.approx([10.0, 5.0, 2.5])
    assert trend["count"].tolist() == [3, 3, 3]
    typical = trend.set_index("length")["typical"].loc[lengths].to_numpy()
    assert length_adjusted(scores, lengths) == pytest.approx(scores / typical)
