"""Coreset selectors: exact sizes, eligibility, CCI strata and budgets, determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import biocoreset_viz.selection as selection_module
from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.runs import ScoreTable, read_json
from biocoreset_viz.selection import (
    BottomInfluence,
    CoverageCentric,
    EmbeddingDiversity,
    IdentityClustering,
    MMseqsNotFoundError,
    RandomSelection,
    Selection,
    TopInfluence,
    align_sequences,
    allocate_budgets,
    coreset_size,
    find_mmseqs,
    list_selections,
    make_selector,
    round_robin,
    sample_sorted,
    select_from_run,
    stratify,
)
from biocoreset_viz.sequences import SequenceSet, read_sequences

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------- references


def reference_rank(scores: np.ndarray) -> np.ndarray:
    """Indices from most to least influential, ties by lower index first."""
    return np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))


def reference_top(scores: np.ndarray, n: int) -> np.ndarray:
    return np.sort(reference_rank(scores)[:n])


def reference_bottom(scores: np.ndarray, n: int) -> np.ndarray:
    order = np.lexsort((np.arange(len(scores)), np.asarray(scores, dtype=np.float64)))
    return np.sort(order[:n])


def reference_survivors(scores: np.ndarray, hard_cutoff: float) -> np.ndarray:
    cut = math.floor(hard_cutoff * len(scores))
    return np.sort(reference_rank(scores)[cut:])


def published_allocation(sizes: np.ndarray, n: int) -> np.ndarray:
    """The published rule: fewest members first, min(size, remaining // strata left)."""
    budgets = np.zeros(len(sizes), dtype=np.int64)
    remaining = n
    for position, stratum in enumerate(np.argsort(sizes, kind="stable")):
        budgets[stratum] = min(int(sizes[stratum]), remaining // (len(sizes) - position))
        remaining -= budgets[stratum]
    return budgets


def stratum_by_edges(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Stratum j holds edges[j] <= s < edges[j+1]; the last is closed on the right."""
    return np.searchsorted(edges[1:-1], values, side="right")


# ------------------------------------------------------------------ strategies

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def score_arrays(draw: st.DrawFn, min_size: int = 1, max_size: int = 300) -> np.ndarray:
    """Scores with or without ties, float32 or float64."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    size = draw(st.integers(min_size, max_size))
    if draw(st.booleans()):  # few distinct values: many ties
        pool = draw(st.lists(finite, min_size=1, max_size=5))
        values = draw(hnp.arrays(np.int64, size, elements=st.integers(0, len(pool) - 1)))
        return np.asarray(pool, dtype=dtype)[values]
    elements = st.floats(0, 1e4, allow_nan=False, width=32 if dtype == np.float32 else 64)
    return draw(hnp.arrays(dtype, size, elements=elements))


@st.composite
def cci_cases(draw: st.DrawFn):
    scores = draw(score_arrays())
    hard_cutoff = draw(st.sampled_from([0.0, 0.1, 0.5, draw(st.floats(0, 0.95))]))
    n_strata = draw(st.sampled_from([1, 2, 7, 50, draw(st.integers(1, 300))]))
    strata = draw(st.sampled_from(["equal_width", "quantile"]))
    eligible = len(scores) - math.floor(hard_cutoff * len(scores))
    n = draw(st.integers(0, eligible))
    return scores, hard_cutoff, n_strata, strata, n


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 16 scores so that small inputs cross many chunk boundaries."""
    monkeypatch.setattr(selection_module, "_CHUNK", 16)


# ------------------------------------------------------------------ coreset size


@pytest.mark.parametrize(
    ("total", "alpha", "expected"),
    [(100, 0.99, 1), (2_000_000, 0.9, 200_000), (5, 0.5, 3), (7, 0.0, 7), (10, 0.96, 0)],
)
def test_coreset_size_rounds_half_up(total: int, alpha: float, expected: int) -> None:
    assert coreset_size(total, alpha, None) == expected


def test_coreset_size_prefers_n_select() -> None:
    assert coreset_size(10, None, 4) == 4


# ----------------------------------------------------------------------- Top-I


@SETTINGS
@given(scores=score_arrays(), data=st.data())
def test_top_influence_matches_brute_force(scores: np.ndarray, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, len(scores)))
    selector = TopInfluence(n_select=n).fit(scores)
    np.testing.assert_array_equal(selector.indices_, reference_top(scores, n))
    assert selector.indices_.dtype == np.int64
    assert selector.n_selected_ == n


@SETTINGS
@given(scores=score_arrays(min_size=2), data=st.data())
def test_top_influence_is_nested_as_n_grows(scores: np.ndarray, data: st.DataObject) -> None:
    small = data.draw(st.integers(0, len(scores) - 1))
    large = data.draw(st.integers(small, len(scores)))
    smaller = TopInfluence(n_select=small).fit_select(scores)
    larger = TopInfluence(n_select=large).fit_select(scores)
    assert set(smaller.tolist()) <= set(larger.tolist())


@SETTINGS
@given(scores=score_arrays(), data=st.data())
def test_bottom_influence_matches_brute_force(scores: np.ndarray, data: st.DataObject) -> None:
    n = data.draw(st.integers(0, len(scores)))
    selector = BottomInfluence(n_select=n).fit(scores)
    np.testing.assert_array_equal(selector.indices_, reference_bottom(scores, n))


def test_top_influence_breaks_ties_by_lower_index(small_chunks: None) -> None:
    scores = np.array([1.0, 5.0, 5.0, 3.0, 5.0, 5.0] * 10)
    picked = TopInfluence(n_select=3).fit_select(scores)
    np.testing.assert_array_equal(picked, [1, 2, 4])
    assert TopInfluence(n_select=3).fit(scores).threshold_ == 5.0


def test_top_influence_crosses_chunks(small_chunks: None) -> None:
    scores = np.random.default_rng(3).integers(0, 20, 500).astype(np.float32)
    for n in (0, 1, 37, 250, 499, 500):
        np.testing.assert_array_equal(
            TopInfluence(n_select=n).fit_select(scores), reference_top(scores, n)
        )


# ------------------------------------------------------------------ allocation


@SETTINGS
@given(
    sizes=st.lists(st.integers(0, 1000), min_size=1, max_size=60),
    data=st.data(),
)
def test_allocation_follows_the_published_rule_and_sums_to_n(
    sizes: list[int], data: st.DataObject
) -> None:
    sizes_array = np.asarray(sizes)
    n = data.draw(st.integers(0, int(sizes_array.sum())))
    budgets = allocate_budgets(sizes_array, n)
    assert budgets.sum() == n
    assert (budgets <= sizes_array).all()
    assert (budgets >= 0).all()
    # strata visited by ascending size never leave a shortfall: the published
    # pass alone reaches n
    np.testing.assert_array_equal(budgets, published_allocation(sizes_array, n))


def test_allocation_balances_then_fills_large_strata() -> None:
    np.testing.assert_array_equal(allocate_budgets([2, 100, 10], 30), [2, 18, 10])
    np.testing.assert_array_equal(allocate_budgets([5, 5, 5], 7), [2, 2, 3])


def test_shortfall_goes_to_strata_with_spare_members_in_visiting_order() -> None:
    budgets = np.array([3, 0, 1], dtype=np.int64)
    sizes = np.array([3, 4, 2], dtype=np.int64)
    filled = selection_module._hand_out_shortfall(budgets, sizes, 4, np.array([2, 0, 1]))
    # stratum 2 takes its 1 spare member, stratum 0 has none, stratum 1 takes 3
    np.testing.assert_array_equal(filled, [3, 3, 2])


def test_allocation_rejects_more_than_the_members() -> None:
    with pytest.raises(ValueError, match="n=11"):
        allocate_budgets([5, 5], 11)


# --------------------------------------------------------------------- sampling


@pytest.mark.parametrize(
    ("population", "budget", "small", "sparse"),
    [
        (40, 12, 4096, 50),  # Floyd's algorithm (Generator.choice)
        (40, 12, 0, 50),  # bitmap
        (40, 30, 0, 50),  # bitmap of the complement
    ],
)
def test_sample_sorted_is_uniform(
    monkeypatch: pytest.MonkeyPatch, population: int, budget: int, small: int, sparse: int
) -> None:
    monkeypatch.setattr(selection_module, "_SMALL_POPULATION", small)
    monkeypatch.setattr(selection_module, "_SPARSE_RATIO", sparse)
    rng = np.random.default_rng(11)
    trials = 3000
    hits = np.zeros(population)
    for _ in range(trials):
        ranks = sample_sorted(rng, population, budget)
        assert len(ranks) == budget
        assert (np.diff(ranks) > 0).all()  # sorted and distinct
        assert ranks.min() >= 0 and ranks.max() < population
        hits[ranks] += 1
    expected = trials * budget / population
    spread = math.sqrt(trials * (budget / population) * (1 - budget / population))
    # every member is picked as often as the others, within 5 standard deviations
    assert np.abs(hits - expected).max() < 5 * spread


def test_sample_sorted_edges() -> None:
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(sample_sorted(rng, 5, 5), np.arange(5))
    assert len(sample_sorted(rng, 5, 0)) == 0
    with pytest.raises(ValueError, match="budget"):
        sample_sorted(rng, 5, 6)


# ----------------------------------------------------------------- stratifying


def test_equal_width_strata_on_a_grid() -> None:
    # values on an integer grid never sit on an inner edge (multiples of 10)
    rng = np.random.default_rng(5)
    values = rng.integers(1, 500, 2000)
    values = values[values % 10 != 0]
    scores = np.concatenate([[0.0, 500.0], values]).astype(np.float64)
    layers = stratify(scores, 50)
    expected = np.minimum(scores // 10, 49).astype(np.int64)
    np.testing.assert_array_equal(layers.ids.astype(np.int64), expected)
    np.testing.assert_array_equal(layers.counts, np.bincount(expected, minlength=50))
    assert layers.ids[1] == 49  # the maximum lies in the last stratum, closed on the right


@SETTINGS
@given(case=cci_cases())
def test_every_survivor_lies_in_exactly_one_stratum(case) -> None:
    scores, hard_cutoff, n_strata, strata, _ = case
    layers = stratify(scores, n_strata, strata=strata, hard_cutoff=hard_cutoff)
    survivors = reference_survivors(scores, hard_cutoff)
    removed = np.setdiff1d(np.arange(len(scores)), survivors)
    ids = layers.ids.astype(np.int64)
    assert (ids[removed] == n_strata).all()
    # the reported edges describe the strata exactly
    by_edges = stratum_by_edges(scores[survivors].astype(np.float64), layers.edges)
    np.testing.assert_array_equal(ids[survivors], by_edges)
    np.testing.assert_array_equal(layers.counts, np.bincount(by_edges, minlength=n_strata))
    assert layers.counts.sum() == len(survivors) == layers.n_eligible
    assert (np.diff(layers.edges) >= 0).all()
    assert layers.edges[0] == scores[survivors].min()
    assert layers.edges[-1] == scores[survivors].max()
    if strata == "quantile":
        ordered = np.sort(scores[survivors].astype(np.float64))
        cuts = [(j * len(ordered)) // n_strata for j in range(1, n_strata)]
        np.testing.assert_array_equal(layers.edges[1:-1], ordered[cuts])


@SETTINGS
@given(case=cci_cases())
def test_stratify_does_not_depend_on_chunking(case) -> None:
    scores, hard_cutoff, n_strata, strata, _ = case
    whole = stratify(scores, n_strata, strata=strata, hard_cutoff=hard_cutoff)
    original = selection_module._CHUNK
    selection_module._CHUNK = 3
    try:
        chunked = stratify(scores, n_strata, strata=strata, hard_cutoff=hard_cutoff)
    finally:
        selection_module._CHUNK = original
    np.testing.assert_array_equal(whole.ids, chunked.ids)
    np.testing.assert_array_equal(whole.edges, chunked.edges)


def test_cutoff_ties_are_removed_lowest_index_first(small_chunks: None) -> None:
    scores = np.array([9.0] * 6 + [1.0, 2.0, 9.0, 3.0] * 8 + [4.0, 5.0])  # 14 nines of 40
    layers = stratify(scores, 3, hard_cutoff=0.25)  # cut 10 of the 14 nines
    nines = np.flatnonzero(scores == 9.0)
    assert (layers.ids[nines[:10]] == 3).all()
    assert (layers.ids[nines[10:]] != 3).all()
    assert layers.cutoff_value == 9.0


def test_equal_width_edges_are_exact_near_float_limits() -> None:
    for scores in (
        np.array([-1e308, 0.0, 1e308, 5e307]),
        np.array([1e-310, 2e-310, 3e-310, 4e-310]),
        np.array([1.0, np.nextafter(1.0, 2.0), np.nextafter(np.nextafter(1.0, 2.0), 2.0)]),
    ):
        layers = stratify(scores, 4)
        np.testing.assert_array_equal(
            layers.ids.astype(np.int64), stratum_by_edges(scores, layers.edges)
        )
        assert layers.counts.sum() == len(scores)


def test_many_strata_use_wider_ids() -> None:
    scores = np.random.default_rng(2).random(3000)
    layers = stratify(scores, 300, hard_cutoff=0.1)
    assert layers.ids.dtype == np.uint16
    assert (layers.ids[reference_rank(scores)[:300]] == 300).all()
    assert layers.counts.sum() == 2700


# --------------------------------------------------------------------------- CCI


@SETTINGS
@given(case=cci_cases(), seed=st.integers(0, 2**32 - 1))
def test_cci_properties(case, seed: int) -> None:
    scores, hard_cutoff, n_strata, strata, n = case
    selector = CoverageCentric(
        n_select=n, hard_cutoff=hard_cutoff, n_strata=n_strata, strata=strata, random_state=seed
    ).fit(scores)
    picked = selector.indices_
    assert len(picked) == n == selector.n_selected_
    assert len(np.unique(picked)) == n
    assert (np.diff(picked) > 0).all()
    survivors = reference_survivors(scores, hard_cutoff)
    assert np.isin(picked, survivors).all()
    table = selector.strata_
    assert list(table.columns) == ["stratum", "left", "right", "available", "budget", "selected"]
    assert (table["budget"] <= table["available"]).all()
    assert table["budget"].sum() == n
    np.testing.assert_array_equal(table["selected"], table["budget"])
    np.testing.assert_array_equal(
        table["budget"], published_allocation(table["available"].to_numpy(), n)
    )
    # the selected members of each stratum, recounted from the edges
    edges = np.concatenate([table["left"].to_numpy(), table["right"].to_numpy()[-1:]])
    recount = np.bincount(
        stratum_by_edges(scores[picked].astype(np.float64), edges), minlength=n_strata
    )
    np.testing.assert_array_equal(recount, table["selected"])
    assert selector.n_eligible_ == len(survivors)
    again = CoverageCentric(
        n_select=n, hard_cutoff=hard_cutoff, n_strata=n_strata, strata=strata, random_state=seed
    ).fit_select(scores)
    np.testing.assert_array_equal(again, picked)


@settings(max_examples=25, deadline=None)
@given(case=cci_cases(), seed=st.integers(0, 1000))
def test_cci_does_not_depend_on_chunks_or_threads(case, seed: int) -> None:
    scores, hard_cutoff, n_strata, strata, n = case
    make = CoverageCentric(
        n_select=n, hard_cutoff=hard_cutoff, n_strata=n_strata, strata=strata, random_state=seed
    )
    reference = make.fit_select(scores)
    saved = selection_module._CHUNK, selection_module._MAX_WORKERS
    try:
        for chunk, workers in ((5, 1), (5, 4), (64, 2)):
            selection_module._CHUNK, selection_module._MAX_WORKERS = chunk, workers
            np.testing.assert_array_equal(make.fit_select(scores), reference)
    finally:
        selection_module._CHUNK, selection_module._MAX_WORKERS = saved


def test_cci_budgets_on_distinct_scores_follow_the_published_rule() -> None:
    scores = np.random.default_rng(8).lognormal(size=5000)
    selector = CoverageCentric(pruning_rate=0.9, random_state=0).fit(scores)
    survivors = reference_survivors(scores, 0.1)
    low, high = scores[survivors].min(), scores[survivors].max()
    # nominal equal-width strata of the published method, last closed on the right
    nominal = np.minimum(((scores[survivors] - low) / (high - low) * 50).astype(int), 49)
    sizes = np.bincount(nominal, minlength=50)
    np.testing.assert_array_equal(selector.strata_["available"], sizes)
    np.testing.assert_array_equal(selector.strata_["budget"], published_allocation(sizes, 500))
    assert selector.cutoff_value_ == scores[reference_rank(scores)[499]]


@pytest.mark.parametrize("pruning_rate", [0.3, 0.7, 0.99])
def test_cci_on_strata_large_enough_for_the_bitmap_sampler(pruning_rate: float) -> None:
    scores = np.random.default_rng(9).gamma(2.0, size=60_000).astype(np.float32)
    selector = CoverageCentric(pruning_rate=pruning_rate, n_strata=8, random_state=1).fit(scores)
    picked = selector.indices_
    n = round((1 - pruning_rate) * 60_000)
    assert len(picked) == n == len(np.unique(picked))
    assert np.isin(picked, reference_survivors(scores, 0.1)).all()
    table = selector.strata_
    assert table["available"].max() > selection_module._SMALL_POPULATION
    np.testing.assert_array_equal(
        table["budget"], published_allocation(table["available"].to_numpy(), n)
    )
    edges = np.concatenate([table["left"].to_numpy(), table["right"].to_numpy()[-1:]])
    recount = np.bincount(stratum_by_edges(scores[picked].astype(np.float64), edges), minlength=8)
    np.testing.assert_array_equal(recount, table["budget"])


def test_cci_takes_small_strata_whole_and_spreads_the_rest() -> None:
    scores = np.concatenate([np.full(5, 100.0), np.linspace(0, 1, 995)])
    selector = CoverageCentric(n_select=100, hard_cutoff=0.0, n_strata=2).fit(scores)
    # stratum 1 (scores near 100) has 5 members: all taken; stratum 0 gets 95
    np.testing.assert_array_equal(selector.strata_["available"], [995, 5])
    np.testing.assert_array_equal(selector.strata_["budget"], [95, 5])


def test_cci_draws_uniformly_inside_a_stratum() -> None:
    scores = np.arange(20, dtype=np.float64)
    hits = np.zeros(20)
    trials = 2000
    for seed in range(trials):
        picked = CoverageCentric(n_select=5, hard_cutoff=0.0, n_strata=1, random_state=seed)
        hits[picked.fit_select(scores)] += 1
    expected = trials * 5 / 20
    assert np.abs(hits - expected).max() < 5 * math.sqrt(trials * 0.25 * 0.75)


def test_cci_different_seeds_give_different_coresets() -> None:
    scores = np.random.default_rng(1).random(1000)
    first = CoverageCentric(pruning_rate=0.5, random_state=0).fit_select(scores)
    second = CoverageCentric(pruning_rate=0.5, random_state=1).fit_select(scores)
    assert not np.array_equal(first, second)


def test_cci_with_no_cutoff_and_no_pruning_selects_everything() -> None:
    scores = np.random.default_rng(1).random(100)
    picked = CoverageCentric(pruning_rate=0.0, hard_cutoff=0.0, random_state=0).fit_select(scores)
    np.testing.assert_array_equal(picked, np.arange(100))


def test_cci_accepts_a_generator() -> None:
    scores = np.random.default_rng(1).random(100)
    selector = CoverageCentric(n_select=10, random_state=np.random.default_rng(5)).fit(scores)
    assert selector.n_selected_ == 10
    assert selector.seed is None


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


@pytest.mark.parametrize("selector_class", [TopInfluence, BottomInfluence])
def test_alpha_zero_selects_everything(selector_class) -> None:
    scores = np.random.default_rng(0).random(64)
    np.testing.assert_array_equal(
        selector_class(pruning_rate=0.0).fit_select(scores), np.arange(64)
    )


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


# ----------------------------------------------------------------------- identity


def families(seed: int = 0, n_families: int = 4, members: int = 6, length: int = 120):
    rng = np.random.default_rng(seed)
    sequences, family = [], []
    for f in range(n_families):
        base = rng.choice(list("ACGU"), length)
        for _ in range(members):
            copy = base.copy()
            spots = rng.choice(length, 4, replace=False)
            copy[spots] = rng.choice(list("ACGU"), 4)
            sequences.append("".join(copy))
            family.append(f)
    return sequences, np.array(family)


@pytest.mark.mmseqs
def test_identity_clustering_takes_one_per_family() -> None:
    sequences, family = families()
    selector = IdentityClustering(n_select=4, random_state=0, threads=1)
    picked = selector.fit(np.zeros(len(sequences)), sequences=sequences).indices_
    assert selector.n_clusters_ == 4
    assert sorted(family[picked]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.sort(selector.representatives_), picked)
    # clusters are the families
    for label in range(4):
        assert len(np.unique(family[selector.labels_ == label])) == 1


@pytest.mark.mmseqs
def test_identity_clustering_is_seeded() -> None:
    sequences, _ = families(members=10)
    first = IdentityClustering(n_select=20, random_state=0, threads=1)
    second = IdentityClustering(n_select=20, random_state=0, threads=1)
    third = IdentityClustering(n_select=20, random_state=1, threads=1)
    picked = first.fit(None, sequences=sequences).indices_
    np.testing.assert_array_equal(second.fit(None, sequences=sequences).indices_, picked)
    assert not np.array_equal(third.fit(None, sequences=sequences).indices_, picked)
    assert len(np.unique(picked)) == 20


def test_missing_mmseqs_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(selection_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MMseqsNotFoundError, match=r"pip install 'biocoreset_viz\[mmseqs\]'"):
        find_mmseqs()


def test_bad_mmseqs_executable_is_named() -> None:
    with pytest.raises(MMseqsNotFoundError, match="/no/such/mmseqs"):
        IdentityClustering(n_select=1, executable="/no/such/mmseqs").fit(
            None, sequences=["ACGU", "ACGA"]
        )


# ----------------------------------------------------------------------- bad input


GOOD = np.array([0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.8, 0.7, 0.6, 1.0])


@pytest.mark.parametrize(
    ("selector", "scores", "message"),
    [
        (CoverageCentric(pruning_rate=1.0), GOOD, r"pruning_rate must be in \[0, 1\)"),
        (CoverageCentric(pruning_rate=-0.1), GOOD, r"pruning_rate must be in \[0, 1\)"),
        (CoverageCentric(pruning_rate=float("nan")), GOOD, "pruning_rate"),
        (CoverageCentric(pruning_rate=0.5, hard_cutoff=1.0), GOOD, "hard_cutoff"),
        (CoverageCentric(pruning_rate=0.5, hard_cutoff=-0.5), GOOD, "hard_cutoff"),
        (CoverageCentric(pruning_rate=0.5, n_strata=0), GOOD, "n_strata"),
        (CoverageCentric(pruning_rate=0.5, n_strata=2.5), GOOD, "n_strata"),
        (CoverageCentric(pruning_rate=0.5, strata="log"), GOOD, "strata must be"),
        (CoverageCentric(n_select=10, hard_cutoff=0.1), GOOD, "n_select=10 is larger than the 9"),
        (CoverageCentric(pruning_rate=0.0, hard_cutoff=0.2), GOOD, r"pruning_rate=0.0 \(n=10\)"),
        (CoverageCentric(pruning_rate=0.5), np.array([0.1, np.nan, 0.3]), "scores contain 1 NaN"),
        (CoverageCentric(pruning_rate=0.5), np.array([0.1, np.inf]), "scores contain 1 NaN or inf"),
        (CoverageCentric(pruning_rate=0.5), np.array([]), "scores is empty"),
        (CoverageCentric(pruning_rate=0.5), np.ones((2, 2)), "scores must be one-dimensional"),
        (CoverageCentric(pruning_rate=0.5), np.array(["a"]), "scores must be numeric"),
        (CoverageCentric(), GOOD, "pruning_rate and n_select"),
        (CoverageCentric(pruning_rate=0.5, n_select=3), GOOD, "pruning_rate and n_select"),
        (TopInfluence(n_select=11), GOOD, "n_select=11 is larger than the pool of 10"),
        (TopInfluence(n_select=-1), GOOD, "n_select must be an integer >= 0"),
        (RandomSelection(pruning_rate=1.5), GOOD, "pruning_rate"),
        (RandomSelection(pruning_rate=0.5), np.array([]), "scores is empty"),
        (EmbeddingDiversity(n_select=2), GOOD, "needs embeddings"),
        (EmbeddingDiversity(n_select=2, strategy="random"), None, "strategy"),
        (EmbeddingDiversity(n_select=2, n_clusters=0), None, "n_clusters"),
    ],
)
def test_bad_parameters_raise_value_errors_naming_them(selector, scores, message) -> None:
    embeddings = np.ones((10, 3)) if scores is None else None
    with pytest.raises(ValueError, match=message):
        selector.fit(scores, embeddings)


def test_embeddings_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(ValueError, match="embeddings have 9 rows but there are 10 scores"):
        CoverageCentric(pruning_rate=0.5).fit(GOOD, np.ones((9, 4)))


def test_diversity_embeddings_of_the_wrong_length_are_rejected() -> None:
    with pytest.raises(ValueError, match="embeddings have 9 rows but there are 10 scores"):
        EmbeddingDiversity(n_select=2).fit(GOOD, np.ones((9, 4)))


def test_identity_needs_sequences() -> None:
    with pytest.raises(ValueError, match="sequences"):
        IdentityClustering(n_select=1).fit(GOOD)


def test_identity_sequences_must_match_scores() -> None:
    with pytest.raises(ValueError, match="sequences has 2 entries but there are 10 scores"):
        IdentityClustering(n_select=1).fit(GOOD, sequences=["ACGU", "ACGA"])


def test_empty_embeddings_are_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="embeddings are empty"):
        RandomSelection(n_select=0).fit(None, np.empty((0, 3)))


# ------------------------------------------------------------------ estimator API


def test_parameters_are_stored_untouched_and_round_trip() -> None:
    selector = CoverageCentric(pruning_rate=2.0, n_strata="many")  # checked only by fit
    assert selector.get_params()["pruning_rate"] == 2.0
    selector.set_params(pruning_rate=0.9, n_strata=10)
    assert selector.get_params() == {
        "pruning_rate": 0.9,
        "n_select": None,
        "hard_cutoff": 0.1,
        "n_strata": 10,
        "strata": "equal_width",
        "random_state": None,
    }
    assert repr(selector) == "CoverageCentric(pruning_rate=0.9, n_strata=10)"
    with pytest.raises(ValueError, match="no parameter 'alpha'"):
        selector.set_params(alpha=0.5)


def test_make_selector_checks_method_and_parameters() -> None:
    assert isinstance(make_selector("topi", pruning_rate=0.5, hard_cutoff=None), TopInfluence)
    with pytest.raises(ValueError, match="method must be one of"):
        make_selector("best")
    with pytest.raises(ValueError, match="takes no parameter hard_cutoff"):
        make_selector("topi", pruning_rate=0.5, hard_cutoff=0.1)


@pytest.mark.slow
def test_cci_on_three_million_float32_scores() -> None:
    scores = np.random.default_rng(0).lognormal(size=3_000_000).astype(np.float32)
    selector = CoverageCentric(pruning_rate=0.9, random_state=0).fit(scores)
    assert selector.n_selected_ == 300_000
    assert len(np.unique(selector.indices_)) == 300_000
    np.testing.assert_array_equal(
        selector.strata_["budget"],
        published_allocation(selector.strata_["available"].to_numpy(), 300_000),
    )
    survivors = np.ones(len(scores), dtype=bool)
    survivors[reference_rank(scores)[:300_000]] = False
    assert survivors[selector.indices_].all()


# ----------------------------------------------------------------- Selection


def fitted_cci(n_total: int = 200, seed: int = 0) -> tuple[CoverageCentric, list[str]]:
    scores = np.random.default_rng(seed).lognormal(size=n_total)
    ids = [f"rna{i:04d}" for i in range(n_total)]
    return CoverageCentric(pruning_rate=0.8, n_strata=5, random_state=7).fit(scores), ids


def test_selection_records_the_fit() -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, source_run="runs/demo")
    assert selection.method == "cci"
    assert selection.n == 40 == len(selection)
    assert selection.n_total == 200
    assert selection.seed == 7
    assert selection.params["hard_cutoff"] == 0.1
    assert selection.name == "cci-n40-b0.1-k5-seed7"
    assert selection.source_run == "runs/demo"
    np.testing.assert_array_equal(selection.indices, selector.indices_)
    assert list(selection.ids) == [ids[i] for i in selector.indices_]
    assert selection.strata.equals(selector.strata_)
    assert selection.summary["n_eligible"] == 180


def test_selection_round_trips_through_a_run_directory(tmp_path) -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, name="coreset")
    path = selection.save(tmp_path)
    assert path == tmp_path / "selections" / "coreset.json"
    assert Selection.exists(tmp_path, "coreset")
    assert not Selection.exists(tmp_path, "other")
    assert list_selections(tmp_path) == ["coreset"]
    loaded = Selection.load(tmp_path, "coreset")
    assert loaded == selection
    assert Selection.load(path) == selection
    assert loaded.strata["left"].dtype == np.float64
    assert loaded.strata["budget"].dtype == np.int64
    assert loaded.created == selection.created
    payload = read_json(path)
    assert payload["indices"] == selector.indices_.tolist()
    assert payload["n"] == 40 and payload["method"] == "cci"


def test_selection_equality_sees_every_field() -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, name="a")
    other = selector.to_selection(ids, name="a")
    other.created = selection.created
    assert other == selection
    other.indices = other.indices[::-1].copy()
    assert other != selection
    renamed = selector.to_selection(ids, name="b")
    renamed.created = selection.created
    assert renamed != selection


def test_selection_exports_csv_and_fasta(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGU"), 12)) for _ in ids]
    pool = SequenceSet.from_sequences(sequences, ids, molecule="rna")
    selection = selector.to_selection(ids)
    table = pd.read_csv(selection.to_csv(tmp_path / "coreset.csv"))
    assert list(table.columns) == ["index", "id"]
    np.testing.assert_array_equal(table["index"], selection.indices)
    assert table["id"].tolist() == list(selection.ids)
    for name, source in (
        ("set.fasta", pool),
        ("map.fa.gz", dict(zip(ids, sequences, strict=True))),
    ):
        written = read_sequences(selection.to_fasta(tmp_path / name, source), molecule="rna")
        assert written.ids == list(selection.ids)
        assert written.sequences == [sequences[i] for i in selection.indices]


def test_fasta_export_by_id_from_a_reordered_set(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    sequences = {name: "ACGU" * (i + 1) for i, name in enumerate(ids)}
    shuffled = list(reversed(ids))
    pool = SequenceSet.from_sequences([sequences[i] for i in shuffled], shuffled, molecule="rna")
    selection = selector.to_selection(ids)
    written = read_sequences(selection.to_fasta(tmp_path / "c.fasta", pool), molecule="rna")
    assert written.sequences == [sequences[i] for i in selection.ids]


def test_fasta_export_names_a_missing_sequence(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    selection = selector.to_selection(ids)
    partial = {name: "ACGU" for name in ids if name != selection.ids[0]}
    with pytest.raises(InputError, match=f"first: '{selection.ids[0]}'"):
        selection.to_fasta(tmp_path / "c.fasta", partial)


def test_selection_without_ids_exports_from_the_pool_in_order(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    pool = SequenceSet.from_sequences(["ACGU" * (i + 1) for i in range(30)], ids, molecule="rna")
    selection = selector.to_selection()
    assert selection.ids is None
    written = read_sequences(selection.to_fasta(tmp_path / "c.fasta", pool), molecule="rna")
    assert written.ids == [ids[i] for i in selection.indices]
    with pytest.raises(ValueError, match="no ids"):
        selection.to_fasta(tmp_path / "d.fasta", {name: "ACGU" for name in ids})
    assert Selection.load(selection.save(tmp_path / "noids.json")) == selection


def test_loading_a_bad_selection_file_names_it(tmp_path) -> None:
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(RunDirectoryError, match="bad.json: not a readable selection"):
        Selection.load(tmp_path / "bad.json")
    with pytest.raises(RunDirectoryError, match="no such selection"):
        Selection.load(tmp_path, "absent")
    with pytest.raises(ValueError, match="plain file name"):
        Selection.load(tmp_path, "../escape")


def test_unfitted_selector_has_no_selection() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        TopInfluence(n_select=1).to_selection()


def test_ids_must_cover_the_pool() -> None:
    selector, ids = fitted_cci()
    with pytest.raises(ValueError, match="ids has 199 entries for a pool of 200"):
        selector.to_selection(ids[:-1])


def make_run(tmp_path, n_total: int = 120, embeddings: bool = False):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "index": np.arange(n_total, dtype=np.int64),
            "id": [f"s{i}" for i in range(n_total)],
            "length": np.full(n_total, 20),
            "truncated": np.zeros(n_total, dtype=bool),
            "loss": rng.random(n_total),
            "self_influence": rng.lognormal(size=n_total),
        }
    )
    matrix = rng.normal(size=(n_total, 6)).astype(np.float16) if embeddings else None
    run_dir = tmp_path / "run"
    ScoreTable(frame, matrix, {"model": "demo"}).save(run_dir, rows_per_shard=50)
    return run_dir, frame


def test_select_from_run_saves_the_selection(tmp_path) -> None:
    run_dir, frame = make_run(tmp_path)
    selection = select_from_run(run_dir, "cci", pruning_rate=0.5, random_state=3)
    expected = CoverageCentric(pruning_rate=0.5, random_state=3).fit_select(
        frame["self_influence"].to_numpy()
    )
    np.testing.assert_array_equal(selection.indices, expected)
    assert list(selection.ids) == [f"s{i}" for i in expected]
    assert selection.source_run == str(run_dir)
    assert Selection.load(run_dir, selection.name) == selection


def test_select_from_run_diversity_reads_embeddings(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path, embeddings=True)
    selection = select_from_run(run_dir, "diversity", n_select=10, random_state=0, save=False)
    assert selection.n == 10
    assert list_selections(run_dir) == []


def test_select_from_run_diversity_needs_embeddings(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path)
    with pytest.raises(RunDirectoryError, match="no embeddings"):
        select_from_run(run_dir, "diversity", n_select=10)


def test_select_from_run_identity_needs_sequences(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path)
    with pytest.raises(ValueError, match="sequences"):
        select_from_run(run_dir, "identity", n_select=10)


def test_aligning_sequences_names_missing_ids() -> None:
    assert align_sequences(["b", "a"], {"a": "AC", "b": "GU"}) == ["GU", "AC"]
    with pytest.raises(InputError, match="1 scored ids have no sequence"):
        align_sequences(["a", "c"], {"a": "AC", "b": "GU"})
