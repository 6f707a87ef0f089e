"""The O(N) engine: budgets, sampling and strata, exact and independent of chunks and threads."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.selection import (
    SETTINGS,
    cci_cases,
    published_allocation,
    reference_rank,
    reference_survivors,
    stratum_by_edges,
)

from biocoreset_viz.selection import (
    allocate_budgets,
    engine,
    sample_sorted,
    stratify,
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
    filled = engine._hand_out_shortfall(budgets, sizes, 4, np.array([2, 0, 1]))
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
    monkeypatch.setattr(engine, "_SMALL_POPULATION", small)
    monkeypatch.setattr(engine, "_SPARSE_RATIO", sparse)
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
    original = engine._CHUNK
    engine._CHUNK = 3
    try:
        chunked = stratify(scores, n_strata, strata=strata, hard_cutoff=hard_cutoff)
    finally:
        engine._CHUNK = original
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
