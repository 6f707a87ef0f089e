"""Brute-force references, hypothesis strategies and fitted selectors shared by the selection tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.selection import CoverageCentric

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


# ------------------------------------------------------------ fitted and saved


def fitted_cci(n_total: int = 200, seed: int = 0) -> tuple[CoverageCentric, list[str]]:
    scores = np.random.default_rng(seed).lognormal(size=n_total)
    ids = [f"rna{i:04d}" for i in range(n_total)]
    return CoverageCentric(pruning_rate=0.8, n_strata=5, random_state=7).fit(scores), ids


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
