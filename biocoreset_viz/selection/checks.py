"""Input checks of every selector: scores, embeddings, fractions, counts and the coreset size.

Bad data (NaN scores, an empty pool, embeddings of the wrong shape) raises
:class:`~biocoreset_viz.errors.InputError`; a bad setting (a fraction outside
[0, 1), a size larger than the pool) raises :class:`~biocoreset_viz.errors.ConfigError`.
Both are ``ValueError`` subclasses.

Every size-like parameter is bounded by what it can mean on the pool at hand
(:func:`check_size_limits`): more strata than sequences left after the hard
cutoff, more clusters than the coreset holds, or more MMseqs2 threads than the
machine has cores only cost time and memory (``n_strata=100_000_000`` on 2,000
scores once ran for minutes and took 20 GB).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from biocoreset_viz.errors import ConfigError, InputError

# Strata always allowed, however small the pool (empty strata are harmless at this count).
FEW_STRATA = 1_000


def check_scores(scores: Any, *, name: str = "scores") -> np.ndarray:
    """A 1-D finite float array of scores, without copying float32/float64 input.

    float32 stays float32 (selection never needs more precision than the input);
    other numeric types become float64.

    Raises:
        InputError: not 1-D, empty, or holding NaN or infinite values.
    """
    array = np.asarray(scores)
    if array.dtype not in (np.float32, np.float64):
        if array.dtype.kind not in "biuf":
            raise InputError(f"{name} must be numeric, got dtype {array.dtype}")
        array = array.astype(np.float32 if array.dtype == np.float16 else np.float64)
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise InputError(f"{name} is empty: nothing to select from (empty pool)")
    # min/max propagate NaN and expose +-inf without allocating a mask
    low, high = array.min(), array.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise InputError(f"{name} contain {bad} NaN or infinite values")
    return array


def check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1).

    Raises:
        ConfigError: not a number, or outside [0, 1) (NaN included).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    return value


def check_count(
    value: Any, name: str, *, minimum: int = 1, maximum: int | None = None, why: str = ""
) -> int:
    """An integer ``>= minimum`` and, when given, ``<= maximum`` (``bool`` refused).

    Args:
        why: what the maximum is, for the message ("the 1,800 sequences left after
            the hard cutoff").

    Raises:
        ConfigError: not an integer, or outside the bounds.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        reason = f" (at most {why})" if why else ""
        raise ConfigError(
            f"{name} must be an integer in [{minimum}, {maximum:,}]{reason}, got {value!r}"
        )
    return int(value)


def coreset_size(n_total: int, pruning_rate: float | None, n_select: int | None) -> int:
    """The coreset size n: ``n_select``, or ``round((1 - pruning_rate) * N)`` half up.

    Raises:
        ConfigError: both or neither given, ``pruning_rate`` outside [0, 1), or
            ``n_select`` negative or larger than ``n_total``.
    """
    if (pruning_rate is None) == (n_select is None):
        raise ConfigError("give exactly one of pruning_rate and n_select")
    if n_select is not None:
        n = check_count(n_select, "n_select", minimum=0)
        if n > n_total:
            raise ConfigError(f"n_select={n} is larger than the pool of {n_total} sequences")
        return n
    alpha = check_fraction(pruning_rate, "pruning_rate")
    return min(n_total, math.floor((1.0 - alpha) * n_total + 0.5))


def check_size_limits(params: Mapping[str, Any], n_total: int, n: int) -> None:
    """Refuse a size-like selector parameter beyond what it can mean for this pool.

    * ``n_strata`` (CCI's k): at most the sequences left after the hard cutoff (or
      :data:`FEW_STRATA`, when more: so few strata cost nothing even on a tiny pool);
    * ``n_clusters`` (diversity): at most the coreset size n;
    * ``threads`` (MMseqs2): at most this machine's cores.

    Args:
        params: the selector's parameters (``get_params()``); absent or ``None``
            parameters are not checked.
        n_total: the pool size N.
        n: the coreset size.

    Raises:
        ConfigError: a parameter out of its bounds, naming the bound and why.
    """
    if params.get("n_strata") is not None:
        beta = check_fraction(params.get("hard_cutoff", 0.0), "hard_cutoff")
        eligible = n_total - math.floor(beta * n_total)
        left = f"the {eligible:,} sequences left after the hard cutoff"
        if eligible < FEW_STRATA:
            left = f"{FEW_STRATA:,}, the larger of that and {left}"
        check_count(params["n_strata"], "n_strata", maximum=max(eligible, FEW_STRATA), why=left)
    if params.get("n_clusters") is not None:
        check_count(
            params["n_clusters"],
            "n_clusters",
            maximum=max(n, 1),
            why=f"the coreset size n = {n:,}: more clusters than members leave some unsampled",
        )
    if params.get("threads") is not None:
        cores = os.cpu_count() or 1
        check_count(
            params["threads"], "threads", maximum=cores, why=f"this machine's {cores} cores"
        )


def check_not_empty(n: int, n_total: int, pruning_rate: float | None) -> None:
    """Refuse an empty coreset (nothing to save or train on).

    Raises:
        ConfigError: ``n == 0``, saying which pruning rate still keeps one sequence.
    """
    if n > 0:
        return
    if pruning_rate is None:
        raise ConfigError("n_select=0: the coreset would be empty")
    keeps_one = 1.0 - 1.0 / n_total  # (1 - alpha) * N = 1, clear of the rounding edge
    raise ConfigError(
        f"pruning_rate={pruning_rate} keeps round((1 - {pruning_rate}) * {n_total:,}) = 0 "
        f"sequences: the coreset would be empty; use a pruning rate of at most "
        f"{keeps_one:.6g} (keeps 1) or give n_select"
    )


def check_embedding_rows(embeddings: Any, n_total: int) -> None:
    """Refuse embeddings whose row count differs from the number of scores.

    Raises:
        InputError: the counts differ.
    """
    rows = len(embeddings)
    if rows != n_total:
        raise InputError(f"embeddings have {rows} rows but there are {n_total} scores")


def check_embeddings(embeddings: Any, n_total: int) -> np.ndarray:
    """``(N, D)`` float32 embeddings matching the scores.

    Raises:
        InputError: not 2-D, the wrong number of rows, or NaN/infinite values.
    """
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2:
        raise InputError(f"embeddings must be a 2-D (N, D) array, got shape {matrix.shape}")
    check_embedding_rows(matrix, n_total)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)  # (N, D)
    if not np.isfinite(matrix).all():
        raise InputError("embeddings contain NaN or infinite values")
    return matrix


def pool_size(scores: Any, embeddings: Any) -> tuple[np.ndarray | None, int]:
    """Checked scores (or ``None``) and the pool size, from scores or embeddings.

    Raises:
        InputError: bad scores, or no scores and no (or empty) embeddings.
    """
    if scores is not None:
        checked = check_scores(scores)
        return checked, len(checked)
    if embeddings is None:
        raise InputError("scores is None and no embeddings given: nothing to select from")
    n_total = len(np.asarray(embeddings))
    if n_total == 0:
        raise InputError("embeddings are empty: nothing to select from (empty pool)")
    return None, n_total
