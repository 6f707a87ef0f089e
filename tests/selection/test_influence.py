"""Top-I, Bottom-I and CCI: exact sizes, tie order, eligibility, strata and budgets, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.selection import (
    SETTINGS,
    cci_cases,
    published_allocation,
    reference_bottom,
    reference_rank,
    reference_survivors,
    reference_top,
    score_arrays,
    stratum_by_edges,
)

from biocoreset_viz.selection import (
    BottomInfluence,
    CoverageCentric,
    TopInfluence,
    engine,
)

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


@pytest.mark.parametrize("selector_class", [TopInfluence, BottomInfluence])
def test_alpha_zero_selects_everything(selector_class) -> None:
    scores = np.random.default_rng(0).random(64)
    np.testing.assert_array_equal(
        selector_class(pruning_rate=0.0).fit_select(scores), np.arange(64)
    )


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
    saved = engine._CHUNK, engine._MAX_WORKERS
    try:
        for chunk, workers in ((5, 1), (5, 4), (64, 2)):
            engine._CHUNK, engine._MAX_WORKERS = chunk, workers
            np.testing.assert_array_equal(make.fit_select(scores), reference)
    finally:
        engine._CHUNK, engine._MAX_WORKERS = saved


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
    assert table["available"].max() > engine._SMALL_POPULATION
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
