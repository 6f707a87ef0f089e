"""Input checks: the coreset size, and bad parameters or data raise errors naming them."""

from __future__ import annotations

import numpy as np
import pytest

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection import (
    CoverageCentric,
    EmbeddingDiversity,
    RandomSelection,
    TopInfluence,
    coreset_size,
)
from biocoreset_viz.selection.checks import check_not_empty, check_size_limits


@pytest.mark.parametrize(
    ("total", "alpha", "expected"),
    [(100, 0.99, 1), (2_000_000, 0.9, 200_000), (5, 0.5, 3), (7, 0.0, 7), (10, 0.96, 0)],
)
def test_coreset_size_rounds_half_up(total: int, alpha: float, expected: int) -> None:
    assert coreset_size(total, alpha, None) == expected


def test_coreset_size_prefers_n_select() -> None:
    assert coreset_size(10, None, 4) == 4


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


def test_empty_embeddings_are_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="embeddings are empty"):
        RandomSelection(n_select=0).fit(None, np.empty((0, 3)))


# ------------------------------------------------ bounded sizes (issue 15)


def test_strata_beyond_the_pool_are_refused_at_once_not_after_minutes() -> None:
    scores = np.random.default_rng(0).lognormal(size=2000)
    with pytest.raises(ConfigError, match=r"n_strata must be an integer in \[1, 1,800\]"):
        CoverageCentric(pruning_rate=0.5, n_strata=100_000_000).fit(scores)  # was 20 GB
    assert CoverageCentric(pruning_rate=0.5, n_strata=1800).fit(scores).n_selected_ == 1000
    # on a tiny pool the default k (50) and any k up to 1,000 still work
    assert CoverageCentric(pruning_rate=0.5, n_strata=300).fit(scores[:20]).n_selected_ == 10


def test_clusters_beyond_the_coreset_and_threads_beyond_the_cores_are_refused() -> None:
    embeddings = np.random.default_rng(0).normal(size=(200, 4))
    with pytest.raises(ConfigError, match=r"n_clusters .*at most the coreset size n = 100"):
        EmbeddingDiversity(pruning_rate=0.5, n_clusters=100_000_000).fit(None, embeddings)
    with pytest.raises(ConfigError, match="threads .*this machine's"):
        check_size_limits({"threads": 100_000}, 200, 100)


def test_an_empty_coreset_is_refused_with_the_largest_pruning_rate_that_keeps_one() -> None:
    with pytest.raises(ConfigError, match=r"= 0 sequences: the coreset would be empty.*0.9995 "):
        check_not_empty(coreset_size(2000, 0.9999, None), 2000, 0.9999)
    check_not_empty(coreset_size(2000, 0.9995, None), 2000, 0.9995)
