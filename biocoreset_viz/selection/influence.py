"""The selectors that read self-influence: Top-I, its mirror Bottom-I, and CCI (design section 2).

All three run on the O(N) engine (:mod:`biocoreset_viz.selection.engine`): no sort
of the pool, so they handle hundreds of millions of float32 scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection.base import BaseSelector
from biocoreset_viz.selection.checks import check_count, check_fraction
from biocoreset_viz.selection.engine import (
    StrataKind,
    allocate_budgets,
    check_strata_kind,
    extreme_indices,
    sample_sorted,
    stratify_checked,
)


class TopInfluence(BaseSelector):
    """Top-k Influence (Top-I): the n sequences with the largest self-influence.

    Ties are broken by index (lower index first), so the selection for a smaller
    n is always contained in the one for a larger n.

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.

    Attributes:
        indices_: selected indices, sorted ascending, int64.
        n_selected_: n.
        n_samples_: pool size N.
        threshold_: the smallest selected score (``None`` when n = 0).
    """

    method = "topi"
    largest = True

    def _fit(
        self, scores: np.ndarray, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        indices = extreme_indices(scores, n, largest=self.largest)
        if n == 0:
            self.threshold_ = None
        else:
            picked = scores[indices]
            self.threshold_ = float(picked.min() if self.largest else picked.max())
        return indices

    def _summary(self) -> dict[str, Any]:
        return {"threshold": self.threshold_}


class BottomInfluence(TopInfluence):
    """The n sequences with the smallest self-influence ("easiest"), ties by index.

    Same parameters and attributes as :class:`TopInfluence`; ``threshold_`` is
    the largest selected score.
    """

    method = "bottomi"
    largest = False


@dataclass(eq=False, repr=False)
class CoverageCentric(BaseSelector):
    """Coverage-Centric Influence (CCI) selection, design section 2.

    1. Hard cutoff: remove the ``floor(hard_cutoff * N)`` largest scores (ties by
       index, lower first).
    2. Cut the remaining scores into ``n_strata`` strata, equal width by default
       (``strata="quantile"``: equal counts); the last stratum is closed on the
       right, so every remaining sequence is in exactly one stratum.
    3. Budgets by :func:`~biocoreset_viz.selection.engine.allocate_budgets`: strata
       visited from fewest to most members, each getting
       ``min(size, floor(remaining / strata left))``; any shortfall then goes to
       strata with spare members in the same order (see there), so the budgets
       sum to exactly n.
    4. Inside each stratum, draw its budget uniformly without replacement with
       ``numpy.random.default_rng(random_state)``; strata are drawn in stratum order.

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.
        hard_cutoff: fraction beta removed first, in [0, 1) (published: 0.1).
        n_strata: number of strata k >= 1 (published: 50).
        strata: ``"equal_width"`` or ``"quantile"``.
        random_state: int seed, ``numpy.random.Generator`` or ``None``.

    Attributes:
        indices_: selected indices, sorted ascending, int64.
        n_selected_: n.
        n_samples_: pool size N.
        n_eligible_: sequences left after the hard cutoff.
        cutoff_value_: the lowest score removed by the hard cutoff (``None`` when
            ``floor(hard_cutoff * N) == 0``).
        strata_: one row per stratum: ``stratum``, ``left``, ``right`` (edges;
            stratum j holds ``left <= s < right``, the last also ``s == right``),
            ``available``, ``budget``, ``selected``.

    Raises (from ``fit``):
        InputError: bad scores.
        ConfigError: parameters out of range, or n larger than what survives the
            hard cutoff.
    """

    method = "cci"

    hard_cutoff: float = 0.1
    n_strata: int = 50
    strata: StrataKind = "equal_width"
    random_state: int | np.random.Generator | None = None

    def _fit(
        self, scores: np.ndarray, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        beta = check_fraction(self.hard_cutoff, "hard_cutoff")
        check_count(self.n_strata, "n_strata")
        eligible = n_total - math.floor(beta * n_total)
        if n > eligible:
            given = (
                f"n_select={n}"
                if self.n_select is not None
                else f"pruning_rate={self.pruning_rate} (n={n})"
            )
            raise ConfigError(
                f"{given} is larger than the {eligible} sequences that survive "
                f"hard_cutoff={self.hard_cutoff}"
            )
        check_strata_kind(self.strata)
        layers = stratify_checked(scores, int(self.n_strata), self.strata, beta)
        budgets = allocate_budgets(layers.counts, n)
        rng = np.random.default_rng(self.random_state)
        ranks = [
            sample_sorted(rng, int(size), int(budget))
            for size, budget in zip(layers.counts, budgets, strict=True)
        ]
        indices = layers.positions(ranks)
        selected = np.bincount(layers.ids[indices], minlength=layers.n_strata + 1)
        self.strata_ = pd.DataFrame(
            {
                "stratum": np.arange(layers.n_strata, dtype=np.int64),
                "left": layers.edges[:-1],
                "right": layers.edges[1:],
                "available": layers.counts,
                "budget": budgets,
                "selected": selected[: layers.n_strata].astype(np.int64),
            }
        )
        self.cutoff_value_ = layers.cutoff_value
        self.n_cutoff_ = layers.n_cutoff
        self.n_eligible_ = layers.n_eligible
        return indices

    def _summary(self) -> dict[str, Any]:
        return {
            "cutoff_value": self.cutoff_value_,
            "n_cutoff": self.n_cutoff_,
            "n_eligible": self.n_eligible_,
        }

    def _strata_table(self) -> pd.DataFrame:
        return self.strata_
