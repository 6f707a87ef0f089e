"""The baselines: uniform random, round robin over clusters, k-means and k-center diversity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from support.selection import (
    SETTINGS,
)

from biocoreset_viz.selection import (
    EmbeddingDiversity,
    RandomSelection,
    round_robin,
)

# ------------------------------------------------------------------------ random


@SETTINGS
@given(size=st.integers(1, 400), data=st.data())
def test_random_selection_properties(size: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, size))
    seed = data.draw(st.integers(0, 2**32 - 1))
    picked = RandomSelection(n_select=n, random_state=seed).fit_select(np.zeros(size))
    assert len(picked) == n
    assert (np.diff(picked) > 0).all()
    assert picked.size == 0 or (picked.min() >= 0 and picked.max() < size)
    again = RandomSelection(n_select=n, random_state=seed).fit_select(np.zeros(size))
    np.testing.assert_array_equal(picked, again)


def test_random_selection_seeds_differ_and_alpha_zero_keeps_all() -> None:
    first = RandomSelection(pruning_rate=0.5, random_state=0).fit_select(np.zeros(1000))
    second = RandomSelection(pruning_rate=0.5, random_state=1).fit_select(np.zeros(1000))
    assert not np.array_equal(first, second)
    everything = RandomSelection(pruning_rate=0.0, random_state=0).fit_select(np.zeros(50))
    np.testing.assert_array_equal(everything, np.arange(50))


# ------------------------------------------------------------------- round robin


@SETTINGS
@given(
    labels=hnp.arrays(np.int64, st.integers(1, 200), elements=st.integers(0, 12)),
    data=st.data(),
)
def test_round_robin_spreads_over_clusters(labels: np.ndarray, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, len(labels)))
    seed = data.draw(st.integers(0, 1000))
    picked = round_robin(labels, n, np.random.default_rng(seed))
    assert len(picked) == n and len(np.unique(picked)) == n
    clusters, sizes = np.unique(labels, return_counts=True)
    taken = np.array([np.count_nonzero(labels[picked] == c) for c in clusters])
    # clusters not taken whole differ by at most one pick; those taken whole
    # ran out by the round the open ones reached
    open_clusters = taken < sizes
    if open_clusters.any():
        fewest = taken[open_clusters].min()
        assert taken[open_clusters].max() <= fewest + 1
        assert (taken[~open_clusters] <= fewest + 1).all()


def test_round_robin_takes_leaders_first() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    leaders = np.array([2, 4, 8])
    for seed in range(20):
        picked = round_robin(labels, 3, np.random.default_rng(seed), first=leaders)
        np.testing.assert_array_equal(picked, leaders)


# ---------------------------------------------------------------------- diversity


def blobs(seed: int = 0, per_blob: int = 30, n_blobs: int = 6, dim: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 20, (n_blobs, dim))
    points = centres[np.repeat(np.arange(n_blobs), per_blob)]
    return (points + rng.normal(0, 0.5, points.shape)).astype(np.float16)


def test_kmeans_diversity_covers_every_blob() -> None:
    embeddings = blobs()
    selector = EmbeddingDiversity(n_select=6, n_clusters=6, random_state=0)
    picked = selector.fit_select(np.zeros(len(embeddings)), embeddings)
    assert len(picked) == 6 and len(np.unique(picked)) == 6
    assert sorted(picked // 30) == list(range(6))  # one per blob
    again = EmbeddingDiversity(n_select=6, n_clusters=6, random_state=0)
    np.testing.assert_array_equal(again.fit_select(None, embeddings), picked)
    assert len(np.unique(selector.labels_)) == 6


def reference_kcenter(points: np.ndarray, n: int, first: int) -> list[int]:
    points = points.astype(np.float64)
    chosen = [first]
    nearest = np.linalg.norm(points - points[first], axis=1)
    while len(chosen) < n:
        nearest[chosen] = -1
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return chosen


def test_kcenter_matches_farthest_first_traversal() -> None:
    points = np.random.default_rng(4).normal(size=(80, 5)).astype(np.float32)
    selector = EmbeddingDiversity(n_select=12, strategy="kcenter", random_state=3)
    picked = selector.fit_select(np.zeros(80), points)
    first = int(np.random.default_rng(3).integers(80))
    np.testing.assert_array_equal(picked, np.sort(reference_kcenter(points, 12, first)))
    distances = np.linalg.norm(points[:, None, :] - points[picked][None], axis=2).min(axis=1)
    assert selector.radius_ == pytest.approx(distances.max(), rel=1e-4)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(0, 40), seed=st.integers(0, 100), strategy=st.sampled_from(["kmeans", "kcenter"])
)
def test_diversity_properties(n: int, seed: int, strategy: str) -> None:
    embeddings = blobs(seed, per_blob=8, n_blobs=5)  # 40 points
    picked = EmbeddingDiversity(n_select=n, strategy=strategy, random_state=seed).fit_select(
        None, embeddings
    )
    assert len(picked) == n and len(np.unique(picked)) == n
    assert picked.size == 0 or picked.max() < 40


def test_diversity_different_seeds_differ() -> None:
    embeddings = np.random.default_rng(0).normal(size=(300, 4))
    first = EmbeddingDiversity(n_select=100, n_clusters=20, random_state=0).fit_select(
        None, embeddings
    )
    second = EmbeddingDiversity(n_select=100, n_clusters=20, random_state=1).fit_select(
        None, embeddings
    )
    assert not np.array_equal(first, second)


def test_diversity_embeddings_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(ValueError, match="embeddings have 9 rows but there are 10 scores"):
        EmbeddingDiversity(n_select=2).fit(np.arange(10.0), np.ones((9, 4)))


def test_kmeans_diversity_spreads_over_many_blobs_and_is_reproducible() -> None:
    embeddings = blobs(seed=3, per_blob=40, n_blobs=40, dim=16)
    picked = EmbeddingDiversity(n_select=40, n_clusters=40, random_state=5).fit_select(
        None, embeddings
    )
    assert len(np.unique(picked // 40)) >= 38  # nearly one per blob
    again = EmbeddingDiversity(n_select=40, n_clusters=40, random_state=5).fit_select(
        None, embeddings
    )
    np.testing.assert_array_equal(picked, again)


def test_kmeans_centroids_of_a_large_pool_are_fitted_on_a_sample(monkeypatch) -> None:
    from biocoreset_viz.selection import baselines

    monkeypatch.setattr(baselines, "KMEANS_FIT_ROWS", 60)
    embeddings = blobs(seed=1, per_blob=50, n_blobs=4).astype(np.float32)  # 200 rows
    centres = baselines.fit_centroids(embeddings, 4, np.random.default_rng(0))
    labels, distance = baselines.nearest_centroid(embeddings, centres)
    assert centres.shape == (4, 8) and len(np.unique(labels)) == 4
    assert (distance < 5).all()  # every point near its blob's centroid


def test_kmeans_plus_plus_handles_duplicate_rows() -> None:
    from biocoreset_viz.selection.baselines import kmeans_plus_plus

    rows = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 distinct rows, 12 in all
    chosen = kmeans_plus_plus(rows, 5, np.random.default_rng(0))
    assert len(np.unique(chosen)) == 5
    assert len({tuple(rows[i]) for i in chosen}) == 3  # every distinct row first
