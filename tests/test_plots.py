"""Figures as pure functions of tables: the data each figure draws."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from biocoreset_viz import plots
from biocoreset_viz.coverage import label_coverage, stratum_coverage
from biocoreset_viz.selection import CoverageCentric, TopInfluence


@pytest.fixture(scope="module")
def scores() -> np.ndarray:
    return np.random.default_rng(0).lognormal(size=2_000)


def test_histogram_counts_cover_the_pool_and_the_selection(scores) -> None:
    selected = np.arange(0, 2_000, 7)
    table = plots.histogram_counts(scores, selected, bins=30)
    assert len(table) == 30 and table["pool"].sum() == 2_000
    assert table["selected"].sum() == len(selected)
    assert (table["selected"] <= table["pool"]).all()
    np.testing.assert_allclose(table["left"].iloc[0], scores.min())
    np.testing.assert_allclose(table["right"].iloc[-1], scores.max())
    mask = np.zeros(2_000, dtype=bool)
    mask[selected] = True
    pd.testing.assert_frame_equal(plots.histogram_counts(scores, mask, bins=30), table)


def test_log_bins_are_geometric_and_leave_out_non_positive_scores() -> None:
    values = np.array([0.0, 0.001, 0.01, 0.1, 1.0, 10.0])
    bins = plots.ScoreBins.fit(values, bins=4, log=True)
    ratios = bins.edges[1:] / bins.edges[:-1]
    np.testing.assert_allclose(ratios, ratios[0])
    assert bins.pool.sum() == 5 and bins.codes[0] == -1
    assert bins.table([0, 1])["selected"].sum() == 1


def test_score_bins_refuse_bad_scores() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        plots.ScoreBins.fit([1.0, np.nan])
    with pytest.raises(ValueError, match="no positive score"):
        plots.ScoreBins.fit([0.0, -1.0], log=True)


def test_influence_histogram_draws_pool_coreset_strata_and_cutoff(scores) -> None:
    selector = CoverageCentric(pruning_rate=0.9, n_strata=10, random_state=0).fit(scores)
    counts = plots.histogram_counts(scores, selector.indices_)
    edges = selector.strata_["left"].to_numpy()[1:]
    figure = plots.influence_histogram(counts, cutoff=selector.cutoff_value_, strata_edges=edges)
    drawn = figure.dframe()
    kept = drawn[drawn["kind"] == "coreset"]
    assert kept["y1"].sum() == selector.n_selected_
    assert drawn[drawn["kind"] == "pool"]["y1"].sum() == len(scores)
    assert (drawn["kind"] == "strata boundaries").sum() == 9
    cutoff = drawn[drawn["kind"] == "hard cutoff (β)"]
    assert len(cutoff) == 1
    assert cutoff["x0"].iloc[0] < selector.cutoff_value_ < cutoff["x1"].iloc[0]
    assert cutoff["y0"].iloc[0] == 0 and cutoff["y1"].iloc[0] > counts["pool"].max()
    # a log axis keeps only positive marks
    log_counts = plots.histogram_counts(scores, selector.indices_, log=True)
    log_figure = plots.influence_histogram(log_counts, log=True, cutoff=-1.0, strata_edges=edges)
    assert "hard cutoff (β)" not in set(log_figure.dframe()["kind"])
    hv.render(figure, backend="bokeh")  # draws without error


def test_stratum_coverage_plot_draws_the_table(scores) -> None:
    indices = np.arange(0, 2_000, 11)
    table = stratum_coverage(scores, indices, n_strata=12).table
    figure = plots.stratum_coverage_plot(table, logy=False)
    drawn = figure.dframe()
    np.testing.assert_array_equal(drawn[drawn["kind"] == "selected"]["y1"], table["selected"])
    np.testing.assert_array_equal(drawn[drawn["kind"] == "available"]["y1"], table["available"])
    represented = int((table["selected"] > 0).sum())
    assert (
        f"{represented} of {int((table['available'] > 0).sum())}"
        in figure.opts.get().kwargs["title"]
    )
    logged = plots.stratum_coverage_plot(table, logy=True).dframe()
    empty = logged[(logged["kind"] == "selected")]["y1"].isna()
    assert empty.sum() == int((table["selected"] == 0).sum())  # nothing drawn at log(0)


def test_redundancy_plot_shows_the_largest_groups_first() -> None:
    labels = np.array(["big"] * 50 + ["mid"] * 30 + ["small"] * 5 + ["tiny"])
    table = label_coverage(labels, np.arange(0, 86, 4)).table
    figure = plots.redundancy_plot(table, label="family", top=3)
    drawn = figure.dframe()
    kept = drawn[drawn["kind"] == "kept"]
    assert kept["label"].tolist() == ["big", "mid", "small"]
    assert kept["x1"].tolist() == table["selected"].head(3).tolist()
    # largest at the top: the highest bar position
    assert kept.set_index("label")["y0"].idxmax() == "big"
    assert "(largest 3 shown)" in figure.opts.get().kwargs["title"]


def test_neighbour_distance_plot_counts_every_distance() -> None:
    distances = np.random.default_rng(0).random(300)
    figure = plots.neighbour_distance_plot(distances, bins=20)
    assert figure.dframe()["sequences"].sum() == 300
    assert f"median {np.median(distances):.3g}" in figure.opts.get().kwargs["title"]
    empty = plots.neighbour_distance_plot([])
    assert "nothing pruned" in empty.opts.get().kwargs["title"]


def test_learning_curves_draw_one_panel_per_task_and_metric() -> None:
    curves = pd.DataFrame(
        {
            "subset": ["cci"] * 4 + ["random"] * 2,
            "seed": [0, 1, 0, 1, 0, 0],
            "step": [1, 1, 2, 2, 1, 2],
            "tokens_seen": [100, 100, 200, 200, 100, 200],
            "task": "ss",
            "metric": "f1",
            "value": [0.2, 0.4, 0.5, 0.7, 0.1, 0.3],
        }
    )
    layout = plots.learning_curves(pd.concat([curves, curves.assign(task="tm", metric="acc")]))
    assert len(layout) == 2
    with pytest.raises(ValueError, match="lack columns"):
        plots.learning_curves(curves.drop(columns="seed"))
    with pytest.raises(ValueError, match="x must be"):
        plots.learning_curves(curves, x="epoch")


def test_selection_histogram_reads_cutoff_and_strata_from_the_selection(scores) -> None:
    selector = CoverageCentric(pruning_rate=0.9, n_strata=10, random_state=0).fit(scores)
    expected = plots.influence_histogram(
        plots.histogram_counts(scores, selector.indices_, log=True),
        log=True,
        cutoff=selector.cutoff_value_,
        strata_edges=selector.strata_["left"].to_numpy()[1:],
    ).dframe()
    from_selector = plots.selection_histogram(scores, selector, log=True)
    pd.testing.assert_frame_equal(from_selector.dframe(), expected)
    assert "CCI coreset: 200 of 2,000" in from_selector.opts.get().kwargs["title"]
    saved = selector.to_selection(None)
    pd.testing.assert_frame_equal(
        plots.selection_histogram(scores, saved, log=True).dframe(), expected
    )
    # Top-I has no cutoff or strata: only the pool and the coreset are drawn
    top = plots.selection_histogram(scores, TopInfluence(pruning_rate=0.9).fit(scores)).dframe()
    assert set(top["kind"]) == {"pool", "coreset"}
    assert top[top["kind"] == "coreset"]["y1"].sum() == 200


def test_selection_histogram_shares_bins_and_checks_their_size(scores) -> None:
    bins = plots.ScoreBins.fit(scores, bins=20, log=True)
    first = plots.selection_histogram(scores, np.arange(10), bins=bins).dframe()
    second = plots.selection_histogram(scores, np.arange(10, 400), bins=bins).dframe()
    pool = first[first["kind"] == "pool"]
    np.testing.assert_array_equal(pool["x0"], second[second["kind"] == "pool"]["x0"])
    assert len(pool) == 20
    with pytest.raises(ValueError, match="fitted on 2000 scores, not 5"):
        plots.selection_histogram(scores[:5], [0], bins=bins)


def test_every_title_fits_above_a_half_page_figure() -> None:
    long = "a label column with a very long name indeed"
    table = label_coverage(np.array(["x"] * 30 + ["y"] * 20), np.arange(0, 50, 3)).table
    strata = stratum_coverage(np.random.default_rng(0).random(500), np.arange(0, 500, 9)).table
    titles = [
        plots.redundancy_plot(table, label=long),
        plots.stratum_coverage_plot(strata, selected_in_cutoff=123_456, muted="Bottom-I"),
        plots.neighbour_distance_plot(np.ones(10), sampled=True),
        plots.selection_map(
            plots.map_frame(
                pd.DataFrame({"index": [0, 1], "x": 0.0, "y": 0.0}),
                pd.DataFrame({"index": [0, 1], "id": ["a", "b"]}),
                [0],
            ),
            projection="UMAP",
        ),
        plots.influence_histogram(plots.histogram_counts(np.arange(9.0)), title=long * 3),
    ]
    for figure in titles:
        title = figure.opts.get().kwargs["title"]
        assert len(title) <= plots.TITLE_CHARS, title


def test_strata_of_another_method_are_greyed() -> None:
    table = stratum_coverage(np.random.default_rng(0).random(500), np.arange(0, 500, 9)).table
    muted = plots.stratum_coverage_plot(table, muted="Top-I").opts.get().kwargs
    assert muted["cmap"]["selected"] != plots.SELECTED_COLOR
    assert muted["title"].startswith("CCI strata (not used by Top-I)")
    own = plots.stratum_coverage_plot(table).opts.get().kwargs
    assert own["cmap"]["selected"] == plots.SELECTED_COLOR


def test_histograms_of_extreme_and_equal_scores_stay_finite() -> None:
    for scores in (np.array([-1.7e308, 0.0, 1.7e308]), np.full(5, 2.0), np.array([1e308])):
        counts = plots.histogram_counts(scores, [0])
        assert np.isfinite(counts[["left", "right"]].to_numpy()).all()
        figure = plots.influence_histogram(counts, cutoff=float(scores[-1]), strata_edges=scores)
        assert np.isfinite(figure.dframe()[["x0", "x1"]].to_numpy()).all()
