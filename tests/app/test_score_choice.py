"""The dashboard's score choice: the store ranks by, and the views show, the score variant chosen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document
from scipy.stats import spearmanr
from support.app_runs import score_frame

from biocoreset_viz.app.score_choice import score_choices
from biocoreset_viz.app.store import DataStore
from biocoreset_viz.app.views import HistogramView, LengthView
from biocoreset_viz.errors import ConfigError
from biocoreset_viz.runs import ScoreTable


def length_effect_table(n: int = 600) -> ScoreTable:
    """Self-influence falling steeply with length (as in the RNA demo), times noise."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 200, n)
    influence = 50.0 / lengths * rng.lognormal(sigma=0.3, size=n)
    frame = score_frame([f"s{i}" for i in range(n)], lengths, rng.random(n), influence)
    frame["gradient_norm"] = np.sqrt(influence)
    return ScoreTable(frame, None, {"model": "test", "molecule": "rna"})


def test_the_choices_are_what_the_scores_allow() -> None:
    frame = length_effect_table().frame
    assert score_choices(frame) == [
        "self_influence",
        "loss",
        "gradient_norm",
        "length_adjusted",
        "loss_length_adjusted",
        "gradient_norm_length_adjusted",
    ]
    signed = frame.assign(loss=frame["loss"] - 0.5)  # a length adjustment needs scores >= 0
    assert "loss_length_adjusted" not in score_choices(signed)
    assert score_choices(frame.drop(columns=["length", "gradient_norm"])) == [
        "self_influence",
        "loss",
    ]


def test_the_menu_names_each_score_in_plain_words() -> None:
    store = DataStore(table=length_effect_table(), umap=False)
    assert store.param.score.names == {
        "self-influence": "self_influence",
        "loss": "loss",
        "gradient norm (no Fisher)": "gradient_norm",
        "length-adjusted self-influence": "length_adjusted",
        "length-adjusted loss": "loss_length_adjusted",
        "length-adjusted gradient norm (no Fisher)": "gradient_norm_length_adjusted",
    }
    store.score = "length_adjusted"  # the values stay the score names
    assert store.selection.summary["score"] == "length_adjusted"


def test_the_store_ranks_by_the_chosen_score() -> None:
    table = length_effect_table()
    store = DataStore(table=table, umap=False, method="topi", pruning_rate=0.9)
    by_influence = store.selection.indices
    assert store.summary["score"] == "self_influence" and "score" not in store.selection.summary
    store.score = "loss"
    loss = table.frame["loss"].to_numpy()
    assert set(store.selection.indices) == set(np.argsort(-loss)[: store.selection.n])
    assert store.selection.summary["score"] == "loss" and store.selection.name.endswith("-loss")
    assert store.summary["score"] == "loss"
    # the length view and the histogram follow the score
    assert np.array_equal(store.length_frame()["y"].to_numpy(), loss)
    bins = store.histogram
    assert (bins["left"].min(), bins["right"].max()) == pytest.approx((loss.min(), loss.max()))
    assert bins["pool"].sum() == store.n_total and bins["selected"].sum() == store.selection.n
    store.score = "self_influence"
    assert np.array_equal(store.selection.indices, by_influence)


def test_the_length_adjusted_score_removes_the_length_effect_in_the_views() -> None:
    store = DataStore(table=length_effect_table(), umap=False, score="length_adjusted")
    points = store.length_frame()
    assert abs(spearmanr(points["x"], points["y"]).statistic) < 0.1
    title = LengthView(store).title()
    assert title.startswith("length adjusted vs length")
    store.score = "self_influence"
    points = store.length_frame()
    assert spearmanr(points["x"], points["y"]).statistic < -0.8
    assert LengthView(store).title().startswith("self influence vs length")
    lengths = pd.Series(store.frame["length"].to_numpy())
    coreset = store.selection.indices
    store.score = "length_adjusted"  # CCI on the adjusted score no longer prefers short ones
    assert lengths.iloc[store.selection.indices].median() > lengths.iloc[coreset].median()


def test_changing_the_score_rebuilds_the_score_figures() -> None:
    store = DataStore(table=length_effect_table(), umap=False)
    for view in (HistogramView(store), LengthView(store)):
        pane = view.__panel__()
        pane.get_root(Document())
        before = pane.object
        store.score = "loss" if store.score != "loss" else "self_influence"
        assert pane.object is not before


def test_a_score_the_run_lacks_is_refused() -> None:
    table = length_effect_table()
    table = ScoreTable(table.frame.drop(columns=["gradient_norm"]), None, table.manifest)
    with pytest.raises(ConfigError, match="score 'gradient_norm' is not offered by this run"):
        DataStore(table=table, umap=False, score="gradient_norm")
