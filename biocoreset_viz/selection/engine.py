"""The O(N) selection engine: sampling, budgets, order statistics, strata and threads.

Every score-only selector runs on this engine, built for hundreds of millions of
float32 scores with little extra memory:

* thresholds (the n-th largest score, the hard cutoff, quantile edges) come from
  ``np.partition`` of a single copy, never a sort of the pool (O(N), and one copy
  is the only pool-sized temporary);
* stratum membership is a one-byte (or two-byte) array filled chunk by chunk,
  with the chunk's temporaries small enough to stay in cache;
* sampling draws *ranks* inside each stratum (:func:`sample_sorted`) and maps
  them back to positions through per-chunk counts (:meth:`Strata.positions`),
  never a permutation or a sort of the whole pool;
* the chunked passes run on a few threads (numpy releases the GIL inside each
  chunk); each thread writes only its own chunks, so results never depend on the
  number of threads or on the chunk length.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection.checks import check_count, check_fraction, check_scores

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

StrataKind = Literal["equal_width", "quantile"]
STRATA_KINDS: tuple[str, ...] = ("equal_width", "quantile")


def check_strata_kind(strata: Any) -> str:
    """``"equal_width"`` or ``"quantile"``.

    Raises:
        ConfigError: any other value.
    """
    if strata not in STRATA_KINDS:
        raise ConfigError(f"strata must be 'equal_width' or 'quantile', got {strata!r}")
    return strata


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
        raise ConfigError(f"budget must be in [0, {population}], got {budget}")
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
        ConfigError: ``n`` negative or larger than the total of ``sizes``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if n < 0 or n > int(sizes.sum()):
        raise ConfigError(f"n={n} must be in [0, {int(sizes.sum())}] (the strata's members)")
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
        raise ConfigError(f"{shortfall} draws left over: the strata have too few members")
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


def extreme_indices(scores: np.ndarray, n: int, *, largest: bool) -> np.ndarray:
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
        InputError: bad scores.
        ConfigError: ``n_strata < 1``, ``hard_cutoff`` outside [0, 1) or an unknown
            ``strata``.
    """
    scores = check_scores(scores)
    n_strata = check_count(n_strata, "n_strata")
    beta = check_fraction(hard_cutoff, "hard_cutoff")
    check_strata_kind(strata)
    return stratify_checked(scores, n_strata, strata, beta)


def stratify_checked(scores: np.ndarray, n_strata: int, strata: str, beta: float) -> Strata:
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
