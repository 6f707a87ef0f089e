"""Coverage metrics against brute force on small pools."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import biocoreset_viz.coverage as coverage_module
from biocoreset_viz.coverage import (
    LabelIndex,
    NearestSelected,
    check_indices,
    compare_selections,
    embedding_coverage,
    label_coverage,
    stratum_coverage,
)
from biocoreset_viz.selection import (
    CoverageCentric,
    IdentityClustering,
    RandomSelection,
    TopInfluence,
    round_robin,
    stratify,
)


def test_stratum_coverage_counts_selected_members_per_stratum() -> None:
    scores = np.arange(100, dtype=np.float64)  # 10 strata of 10 (the last closed: 10)
    indices = np.array([0, 1, 2, 55, 99])
    result = stratum_coverage(scores, indices, n_strata=10)
    layers = stratify(scores, 10)
    np.testing.assert_array_equal(result.table["available"], layers.counts)
    np.testing.assert_array_equal(result.table["selected"], [3, 0, 0, 0, 0, 1, 0, 0, 0, 1])
    assert result.table["fraction"].iloc[0] == pytest.approx(0.3)
    assert result.represented == 3 and result.non_empty == 10
    assert result.fraction == pytest.approx(0.3)
    assert result.selected_in_cutoff == 0


def test_stratum_coverage_of_cci_and_top_influence() -> None:
    scores = np.random.default_rng(0).lognormal(size=3000)
    cci = CoverageCentric(pruning_rate=0.9, random_state=0).fit(scores)
    top = TopInfluence(pruning_rate=0.9).fit(scores)
    cci_cover = stratum_coverage(scores, cci.indices_, hard_cutoff=0.1)
    top_cover = stratum_coverage(scores, top.indices_, hard_cutoff=0.1)
    # on the same strata, CCI represents every stratum it budgeted; Top-I only the cut region
    np.testing.assert_array_equal(cci_cover.table["selected"], cci.strata_["selected"])
    assert cci_cover.represented == int((cci.strata_["budget"] > 0).sum())
    assert top_cover.selected_in_cutoff == 300
    assert top_cover.represented == 0


def brute_force_nearest(points: np.ndarray, selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = points.astype(np.float64)
    pruned = np.setdiff1d(np.arange(len(points)), selected)
    distances = np.linalg.norm(points[pruned][:, None, :] - points[selected][None], axis=2)
    return selected[distances.argmin(axis=1)], distances.min(axis=1)


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(2, 60),
    dim=st.integers(1, 8),
    fraction=st.floats(0.01, 0.99),
    seed=st.integers(0, 10_000),
)
def test_embedding_coverage_matches_brute_force(
    size: int, dim: int, fraction: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(size, dim)).astype(np.float32)
    n = max(1, min(size - 1, round(fraction * size)))
    selected = np.sort(rng.choice(size, n, replace=False))
    result = embedding_coverage(points, selected)
    nearest, distances = brute_force_nearest(points, selected)
    np.testing.assert_array_equal(result.pruned, np.setdiff1d(np.arange(size), selected))
    np.testing.assert_allclose(result.distances, distances, rtol=1e-5, atol=1e-5)
    # the nearest found is as near as the true nearest (ties may pick another)
    found = np.linalg.norm(points[result.pruned] - points[result.nearest], axis=1)
    np.testing.assert_allclose(found, distances, rtol=1e-5, atol=1e-5)
    assert np.isin(result.nearest, selected).all()
    assert result.max == pytest.approx(distances.max(), rel=1e-5)


def test_embedding_coverage_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(coverage_module, "_BLOCK_ENTRIES", 7)
    points = np.random.default_rng(2).normal(size=(50, 3)).astype(np.float16)
    selected = np.arange(0, 50, 5)
    result = embedding_coverage(points, selected)
    _, distances = brute_force_nearest(points.astype(np.float32), selected)
    np.testing.assert_allclose(result.distances, distances, rtol=1e-5, atol=1e-5)
    summary = result.summary()
    assert summary["median"] == pytest.approx(np.median(distances), rel=1e-5)
    assert summary["p90"] == pytest.approx(np.quantile(distances, 0.9), rel=1e-5)


def test_cosine_embedding_coverage() -> None:
    points = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [-3.0, 0.0]])
    result = embedding_coverage(points, [0], metric="cosine")
    np.testing.assert_allclose(result.distances, [1.0, 1 - np.sqrt(0.5), 2.0], atol=1e-6)


def test_everything_selected_leaves_nothing_uncovered() -> None:
    result = embedding_coverage(np.eye(4), np.arange(4))
    assert len(result.pruned) == 0 and result.max == 0.0


@pytest.mark.parametrize(
    ("embeddings", "indices", "metric", "message"),
    [
        (np.ones((4, 2)), [], "euclidean", "no selected sequence"),
        (np.ones((4, 2)), [0, 0], "euclidean", "duplicates"),
        (np.ones((4, 2)), [4], "euclidean", r"indices must lie in \[0, 4\)"),
        (np.ones((4, 2)), [0.5], "euclidean", "integer"),
        (np.ones(4), [0], "euclidean", "embeddings must be a non-empty"),
        (np.array([[np.nan, 1.0]]), [0], "euclidean", "NaN"),
        (np.ones((4, 2)), [0], "manhattan", "metric"),
    ],
)
def test_embedding_coverage_rejects_bad_input(embeddings, indices, metric, message) -> None:
    with pytest.raises(ValueError, match=message):
        embedding_coverage(embeddings, np.asarray(indices), metric=metric)


def test_label_coverage_counts_represented_labels() -> None:
    labels = ["RF001", "RF001", "RF002", None, "RF003", "", "RF003", np.nan]
    result = label_coverage(labels, [0, 1, 3, 6])
    assert result.total == 3
    assert result.represented == 2
    assert result.fraction == pytest.approx(2 / 3)
    expected = pd.DataFrame(
        {"label": ["RF001", "RF003", "RF002"], "available": [2, 2, 1], "selected": [2, 1, 0]}
    )
    pd.testing.assert_frame_equal(result.table, expected)


def test_label_coverage_of_random_selection_is_the_expected_share() -> None:
    labels = np.repeat(np.arange(50), 20)  # 50 families of 20
    picked = RandomSelection(n_select=500, random_state=0).fit_select(np.zeros(1000))
    result = label_coverage(labels, picked)
    assert result.fraction == 1.0
    assert label_coverage(labels, picked[:10]).represented <= 10


def test_compare_selections_builds_one_row_per_selection() -> None:
    rng = np.random.default_rng(0)
    scores = rng.lognormal(size=400)
    embeddings = rng.normal(size=(400, 4))
    families = rng.integers(0, 30, 400)
    cci = CoverageCentric(n_select=40, random_state=0).fit(scores).to_selection()
    top = TopInfluence(n_select=40).fit_select(scores)
    table = compare_selections(
        {"cci": cci, "top": top, "none": []},
        scores=scores,
        embeddings=embeddings,
        labels={"family": families},
    )
    assert table["selection"].tolist() == ["cci", "top", "none"]
    assert table["n"].tolist() == [40, 40, 0]
    assert table.loc[1, "strata_covered"] == stratum_coverage(scores, top).fraction
    assert table.loc[0, "nn_max"] == pytest.approx(embedding_coverage(embeddings, cci).max)
    assert np.isnan(table.loc[2, "nn_mean"])
    assert table.loc[2, "family_covered"] == 0.0


def test_check_indices_accepts_empty_and_selection() -> None:
    assert check_indices([], 3).dtype == np.int64
    selection = TopInfluence(n_select=2).fit(np.arange(5.0)).to_selection()
    np.testing.assert_array_equal(check_indices(selection, 5), [3, 4])


# ------------------------------------------ fast coverage of many selections


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_selected_matches_the_exact_computation(metric, monkeypatch) -> None:
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(900, 6)).astype(np.float32)
    monkeypatch.setattr(coverage_module, "_PROBE_BLOCK_ENTRIES", 900 * 100)  # several blocks
    index = NearestSelected(matrix, metric=metric, n_neighbours=12)
    for fraction in (0.6, 0.05, 0.002):
        chosen = np.sort(rng.choice(900, max(1, int(900 * fraction)), replace=False))
        found = index.query(chosen)
        exact = embedding_coverage(matrix, chosen, metric=metric)
        np.testing.assert_array_equal(found.pruned, exact.pruned)
        np.testing.assert_allclose(found.distances, exact.distances, rtol=1e-6, atol=1e-9)


def test_nearest_selected_samples_probes_of_a_large_pool() -> None:
    matrix = np.random.default_rng(3).normal(size=(500, 4))
    index = NearestSelected(matrix, n_probes=50, exact_below=100)
    assert index.sampled and len(index.probes) == 50
    chosen = np.arange(0, 500, 5)
    found = index.query(chosen)
    exact = embedding_coverage(matrix, chosen)
    lookup = dict(zip(exact.pruned, exact.distances, strict=True))
    np.testing.assert_allclose(found.distances, [lookup[p] for p in found.pruned], rtol=1e-6)
    with pytest.raises(ValueError, match="no selected sequence"):
        index.query(np.zeros(500, dtype=bool))


def test_label_index_matches_label_coverage() -> None:
    labels = np.array(["b", "a", None, "", "a", "c", np.nan, "b", "a"], dtype=object)
    index = LabelIndex(labels)
    for chosen in ([0, 1], [2, 3, 6], [], [5, 8]):
        pd.testing.assert_frame_equal(
            index.coverage(np.array(chosen, dtype=np.int64)).table,
            label_coverage(labels, np.array(chosen, dtype=np.int64)).table,
        )


# ------------------------------------------------------- on the demo RNA set


def demo_rna():
    datasets = pytest.importorskip("biocoreset_viz.datasets")
    return datasets.load_demo("rna")


def test_round_robin_over_clusters_represents_every_demo_cluster() -> None:
    rna = demo_rna()
    clusters = rna.labels["cluster"].to_numpy()
    n_clusters = len(pd.unique(clusters))
    spread = round_robin(clusters, n_clusters, np.random.default_rng(0))
    uniform = RandomSelection(n_select=n_clusters, random_state=0).fit_select(np.zeros(len(rna)))
    assert label_coverage(clusters, spread).fraction == 1.0
    assert label_coverage(clusters, uniform).fraction < 0.8


@pytest.mark.mmseqs
def test_identity_selection_covers_more_demo_clusters_than_random() -> None:
    rna = demo_rna()
    identity = IdentityClustering(n_select=1000, random_state=0, threads=2)
    picked = identity.fit(None, sequences=rna).indices_
    uniform = RandomSelection(n_select=1000, random_state=0).fit_select(np.zeros(len(rna)))
    for column in ("cluster", "family"):
        labels = rna.labels[column].mask(rna.labels[column] == "unknown")
        assert label_coverage(labels, picked).fraction > label_coverage(labels, uniform).fraction, (
            column
        )


# ---------------------------------------------------------------- redundancy of a pool


def test_redundancy_summary_counts_groups_and_leaves_missing_labels_out() -> None:
    summary = coverage_module.redundancy_summary(
        {
            "family": ["a", "a", "b", None, "c", "c", "c", " "],
            "exact": ["AC", "AC", "GG", "GU", "UU", "UC", "UA", "UA"],
        }
    ).set_index("grouping")
    family = summary.loc["family"]
    assert family["sequences"] == 6 and family["groups"] == 3
    assert family["largest"] == 3 and family["singletons"] == 1
    assert family["in_shared_groups"] == pytest.approx(5 / 6)
    assert family["redundant"] == pytest.approx(0.5)
    exact = summary.loc["exact"]
    assert exact["sequences"] == 8 and exact["groups"] == 6
    assert exact["redundant"] == pytest.approx(0.25) and exact["singletons"] == 4


def brute_force_pool_neighbours(points: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    np.fill_diagonal(distances, np.inf)
    return distances.min(axis=1)


@pytest.mark.parametrize("block_entries", [None, 7])
def test_pool_neighbours_match_brute_force(monkeypatch, block_entries) -> None:
    if block_entries is not None:
        monkeypatch.setattr(coverage_module, "_BLOCK_ENTRIES", block_entries)
    points = np.random.default_rng(5).normal(size=(60, 4)).astype(np.float32)
    points[7] = points[3]  # an exact duplicate: each other's neighbour at distance 0
    result = coverage_module.pool_neighbours(points)
    expected = brute_force_pool_neighbours(points.astype(np.float64))
    np.testing.assert_allclose(result.distances, expected, rtol=1e-5, atol=1e-6)
    assert (result.nearest != np.arange(60)).all()
    assert result.nearest[7] == 3 and result.nearest[3] == 7
    assert result.distances[3] == 0.0


def test_pool_neighbours_cosine_and_bad_input() -> None:
    points = np.array([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0]])
    result = coverage_module.pool_neighbours(points, metric="cosine")
    assert result.nearest.tolist() == [1, 0, 1]
    cosine = 1 - 0.1 / np.hypot(2.0, 0.1)
    np.testing.assert_allclose(result.distances[2], cosine, atol=1e-6)
    with pytest.raises(ValueError, match="N >= 2"):
        coverage_module.pool_neighbours(np.ones((1, 3)))
    with pytest.raises(ValueError, match="metric"):
        coverage_module.pool_neighbours(points, metric="manhattan")
    with pytest.raises(ValueError, match="NaN"):
        coverage_module.pool_neighbours(np.array([[np.nan, 1.0], [0.0, 1.0]]))


def test_neighbour_agreement_against_chance() -> None:
    # two tight pairs (a, b), then c at 20 (nearest: b at 10.1) and an unlabelled one at 30
    points = np.array([[0.0], [0.1], [10.0], [10.1], [20.0], [30.0]])
    neighbours = coverage_module.pool_neighbours(points)
    assert neighbours.nearest.tolist() == [1, 0, 3, 2, 3, 4]
    table = neighbours.agreement({"family": ["a", "a", "b", "b", "c", None]})
    row = table.iloc[0]
    assert row["grouping"] == "family"
    assert row["sequences"] == 5  # the unlabelled one does not count
    assert row["same_label"] == pytest.approx(4 / 5)  # c's neighbour is a b
    # chance: two pairs among 5 labelled sequences -> (2 + 2) / (5 * 4)
    assert row["chance"] == pytest.approx(4 / 20)
    with pytest.raises(ValueError, match="labels for 6 sequences"):
        neighbours.agreement({"short": ["a"]})
