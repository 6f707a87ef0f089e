"""How well a coreset covers the pool it was chosen from.

Three views, each a function returning a small result object:

* :func:`stratum_coverage`: members selected per score stratum (are easy, middle
  and hard sequences all represented?);
* :func:`embedding_coverage`: distance from every pruned sequence to its nearest
  selected one in embedding space (is any region of sequence space left out?);
* :func:`label_coverage`: fraction of families or clusters with at least one
  selected member.

:func:`compare_selections` puts the headline numbers of several selections in
one table.

For a dashboard that measures a new selection at every move of a slider, at up
to a million sequences, two indexes do the part that does not depend on the
selection once: :class:`LabelIndex` (labels factorized once; the same table as
:func:`label_coverage`) and :class:`NearestSelected` (each probe sequence's
nearest pool neighbours found once; the same distances as
:func:`embedding_coverage`).

Two more describe the pool itself, before any selection: :func:`redundancy_summary`
(duplicates, cluster and family sizes) and :func:`pool_neighbours` (each
sequence's nearest other sequence in embedding space, and how often it shares a
label: :meth:`PoolNeighbours.agreement`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.selection import Selection, StrataKind, check_scores, stratify

Metric = Literal["euclidean", "cosine"]
METRICS = ("euclidean", "cosine")
# float32 entries of one block of the pruned x selected distance matrix (128 MiB)
_BLOCK_ENTRIES = 1 << 25
# float32 entries of one block of NearestSelected's probe x pool distance matrix (64 MiB)
_PROBE_BLOCK_ENTRIES = 1 << 24
NOTHING_SELECTED = "indices: no selected sequence to measure distances to"


def check_indices(indices: Any, n_total: int) -> np.ndarray:
    """Selected indices as int64, each in ``[0, n_total)`` and distinct.

    Raises:
        InputError: not 1-D integers, out of range, or repeated.
    """
    if isinstance(indices, Selection):
        indices = indices.indices
    array = np.asarray(indices)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise InputError(f"indices must be a 1-D integer array, got {array.dtype} {array.shape}")
    array = array.astype(np.int64, copy=False)
    if array.min() < 0 or array.max() >= n_total:
        raise InputError(f"indices must lie in [0, {n_total}), got {array.min()}..{array.max()}")
    if len(np.unique(array)) != len(array):
        raise InputError("indices contain duplicates")
    return array


def _embedding_matrix(embeddings: Any, metric: str, *, min_rows: int = 1) -> np.ndarray:
    """Embeddings as a contiguous float32 ``(N, D)`` matrix, unit rows for ``cosine``.

    On unit rows the Euclidean distance d gives the cosine distance ``d**2 / 2``,
    so every search below runs on Euclidean distances.

    Raises:
        ConfigError: an unknown metric.
        InputError: not ``(N, D)`` with at least ``min_rows`` rows, or NaN/infinite values.
    """
    if metric not in METRICS:
        raise ConfigError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or len(matrix) < min_rows:
        shape = (
            "a non-empty (N, D) array" if min_rows == 1 else f"an (N, D) array with N >= {min_rows}"
        )
        raise InputError(f"embeddings must be {shape}, got shape {matrix.shape}")
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise InputError("embeddings contain NaN or infinite values")
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1.0)
    return matrix


def _in_metric(distances: np.ndarray, metric: str) -> np.ndarray:
    """Euclidean distances between rows of :func:`_embedding_matrix`, in ``metric``."""
    return distances**2 / 2.0 if metric == "cosine" else distances  # |a - b|^2 = 2 (1 - cos)


def _known_labels(values: Any, *, required: bool = True) -> pd.Series:
    """Labels as strings, missing ones (None, NaN, blank) as NaN.

    Raises:
        InputError: no labels at all, when ``required``.
    """
    series = pd.Series(np.asarray(values, dtype=object))
    if required and len(series) == 0:
        raise InputError("labels are empty")
    present = series.notna() & (series.astype(str).str.strip() != "")
    return series.astype(str).where(present)


class _SelectedRows:
    """The counts shared by the coverage tables: rows (strata, labels) with a selected member."""

    table: pd.DataFrame

    def _counted(self) -> int:
        """The rows a fraction is taken of."""
        raise NotImplementedError

    @property
    def represented(self) -> int:
        """Rows with at least one selected member."""
        return int((self.table["selected"] > 0).sum())

    @property
    def fraction(self) -> float:
        """Represented rows over the rows counted (NaN when there are none)."""
        counted = self._counted()
        return self.represented / counted if counted else float("nan")


@dataclass
class StratumCoverage(_SelectedRows):
    """Selected members per score stratum.

    Attributes:
        table: one row per stratum: ``stratum``, ``left``, ``right``,
            ``available``, ``selected`` and ``fraction`` (selected / available,
            NaN for an empty stratum).
        selected_in_cutoff: selected sequences that lie in the hard-cutoff region.
    """

    table: pd.DataFrame
    selected_in_cutoff: int = 0

    @property
    def non_empty(self) -> int:
        """Strata with at least one member (``represented`` is over these)."""
        return int((self.table["available"] > 0).sum())

    def _counted(self) -> int:
        return self.non_empty


def stratum_coverage(
    scores: Any,
    indices: Any,
    *,
    n_strata: int = 50,
    strata: StrataKind = "equal_width",
    hard_cutoff: float = 0.0,
) -> StratumCoverage:
    """Selected members per stratum of the score range.

    The strata are those of :func:`~biocoreset_viz.selection.stratify` (by default
    over the whole pool, no cutoff), so different selections are compared on the
    same strata.

    Args:
        scores: self-influence of the pool, ``(N,)``.
        indices: the selected indices (or a :class:`Selection`).
        n_strata: number of strata.
        strata: ``"equal_width"`` or ``"quantile"``.
        hard_cutoff: leave the ``floor(hard_cutoff * N)`` largest scores out of the strata.
    """
    scores = check_scores(scores)
    indices = check_indices(indices, len(scores))
    layers = stratify(scores, n_strata, strata=strata, hard_cutoff=hard_cutoff)
    selected = np.bincount(layers.ids[indices].astype(np.int64), minlength=n_strata + 1)
    available = layers.counts
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(available > 0, selected[:n_strata] / np.maximum(available, 1), np.nan)
    table = pd.DataFrame(
        {
            "stratum": np.arange(n_strata, dtype=np.int64),
            "left": layers.edges[:-1],
            "right": layers.edges[1:],
            "available": available,
            "selected": selected[:n_strata].astype(np.int64),
            "fraction": fraction,
        }
    )
    return StratumCoverage(table, int(selected[n_strata]))


@dataclass
class EmbeddingCoverage:
    """Distance from each pruned sequence to its nearest selected one.

    Attributes:
        pruned: indices of the pruned sequences, ascending.
        nearest: for each pruned sequence, the index of its nearest selected one.
        distances: that distance (float64), in ``metric``.
        metric: ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).
    """

    pruned: np.ndarray
    nearest: np.ndarray
    distances: np.ndarray
    metric: str

    @property
    def mean(self) -> float:
        return float(self.distances.mean()) if len(self.distances) else 0.0

    @property
    def median(self) -> float:
        return float(np.median(self.distances)) if len(self.distances) else 0.0

    @property
    def max(self) -> float:
        """The covering radius: no pruned sequence is farther from the coreset."""
        return float(self.distances.max()) if len(self.distances) else 0.0

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.distances, q)) if len(self.distances) else 0.0

    def summary(self) -> dict[str, float]:
        """Mean, median, 90th percentile and maximum distance."""
        return {
            "mean": self.mean,
            "median": self.median,
            "p90": self.quantile(0.9),
            "max": self.max,
        }


def embedding_coverage(
    embeddings: Any,
    indices: Any,
    *,
    metric: Metric = "euclidean",
) -> EmbeddingCoverage:
    """Nearest selected neighbour of every pruned sequence, by blocked matrix products.

    Works in float32 on blocks of the pruned x selected distance matrix (at most
    128 MiB at a time), so tens of thousands of sequences on each side are fine.
    The distance to the nearest neighbour found is then recomputed directly, so
    it carries no cancellation error from the expansion
    ``|q|^2 - 2 q.s + |s|^2``.

    Args:
        embeddings: ``(N, D)`` embeddings of the pool.
        indices: the selected indices (or a :class:`Selection`); at least one.
        metric: ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).

    Raises:
        ConfigError: an unknown metric.
        InputError: bad embeddings or indices, or no selected sequence.
    """
    matrix = _embedding_matrix(embeddings, metric)
    indices = check_indices(indices, len(matrix))
    if len(indices) == 0:
        raise InputError(NOTHING_SELECTED)
    keep = np.zeros(len(matrix), dtype=bool)
    keep[indices] = True
    pruned = np.flatnonzero(~keep)
    selected = np.sort(indices)
    centres = matrix[selected]
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    nearest = np.empty(len(pruned), dtype=np.int64)
    distances = np.empty(len(pruned), dtype=np.float64)
    rows = max(1, min(len(pruned), _BLOCK_ENTRIES // len(selected)))
    for start in range(0, len(pruned), rows):
        block = matrix[pruned[start : start + rows]]
        # |q|^2 is the same for every centre of a row: argmin needs only the rest
        scores = centres @ block.T  # (selected, rows)
        scores *= -2.0
        scores += centre_norms[:, None]
        found = selected[np.argmin(scores, axis=0)]
        nearest[start : start + len(block)] = found
        difference = block.astype(np.float64) - matrix[found]
        distances[start : start + len(block)] = np.sqrt(
            np.einsum("ij,ij->i", difference, difference)
        )
    return EmbeddingCoverage(pruned, nearest, _in_metric(distances, metric), metric)


@dataclass
class LabelCoverage(_SelectedRows):
    """Which families or clusters the coreset represents.

    Attributes:
        table: one row per label: ``label``, ``available``, ``selected``, most
            populous label first.
    """

    table: pd.DataFrame

    @property
    def total(self) -> int:
        """Distinct labels in the pool, missing labels aside (``represented`` is over these)."""
        return len(self.table)

    def _counted(self) -> int:
        return self.total


def label_coverage(labels: Any, indices: Any) -> LabelCoverage:
    """Fraction of label values (families, clusters) with a selected member.

    Missing labels (``None``, NaN, empty strings) are left out.

    Args:
        labels: one label per pool sequence, ``(N,)``.
        indices: the selected indices (or a :class:`Selection`).

    Raises:
        InputError: no labels, or bad indices.
    """
    known = _known_labels(labels)
    indices = check_indices(indices, len(known))
    present = known.notna().to_numpy()
    chosen = np.zeros(len(known), dtype=bool)
    chosen[indices] = True
    frame = pd.DataFrame({"label": known[present], "selected": chosen[present]})
    table = (
        frame.groupby("label", sort=False)["selected"]
        .agg(available="size", selected="sum")
        .reset_index()
        .astype({"available": np.int64, "selected": np.int64})
        .sort_values(["available", "label"], ascending=[False, True], ignore_index=True)
    )
    return LabelCoverage(table)


def compare_selections(
    selections: Mapping[str, Any],
    *,
    scores: Any = None,
    embeddings: Any = None,
    labels: Mapping[str, Any] | None = None,
    n_strata: int = 50,
) -> pd.DataFrame:
    """Headline coverage numbers of several selections of the same pool, one row each.

    Args:
        selections: name -> indices or :class:`Selection`.
        scores: the pool's scores: adds ``strata_covered`` (fraction of non-empty
            equal-width strata represented).
        embeddings: the pool's embeddings: adds ``nn_mean``, ``nn_median`` and
            ``nn_max`` (Euclidean distance of pruned sequences to the coreset).
        labels: label column name -> labels: adds ``<name>_covered`` for each.
        n_strata: strata for ``strata_covered``.
    """
    rows = []
    for name, chosen in selections.items():
        indices = chosen.indices if isinstance(chosen, Selection) else np.asarray(chosen)
        row: dict[str, Any] = {"selection": name, "n": len(indices)}
        if scores is not None:
            row["strata_covered"] = stratum_coverage(scores, indices, n_strata=n_strata).fraction
        if embeddings is not None:
            if len(indices):
                nearest = embedding_coverage(embeddings, indices)
                row.update(nn_mean=nearest.mean, nn_median=nearest.median, nn_max=nearest.max)
            else:
                row.update(nn_mean=np.nan, nn_median=np.nan, nn_max=np.nan)
        for column, values in (labels or {}).items():
            row[f"{column}_covered"] = label_coverage(values, indices).fraction
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------- fast coverage of many selections of one pool


class LabelIndex:
    """Label values of a pool, factorized once, for fast per-selection coverage.

    Missing labels (``None``, NaN, blank strings) are left out, as in
    :func:`label_coverage`.
    """

    def __init__(self, labels: Any) -> None:
        known = _known_labels(labels)
        present = known.notna().to_numpy()
        codes, uniques = pd.factorize(known[present], sort=False)
        self.n_total = len(known)
        self.codes = np.full(len(known), -1, dtype=np.int64)
        self.codes[present] = codes
        self.names = np.asarray(uniques, dtype=object)
        self.available = np.bincount(codes, minlength=len(uniques)).astype(np.int64)
        # the table's order (largest first, then by name) is fixed by the pool
        self.order = np.lexsort((self.names.astype(str), -self.available))

    def coverage(self, indices: Any) -> LabelCoverage:
        """Label coverage of a selection (the table :func:`label_coverage` returns)."""
        indices = np.asarray(getattr(indices, "indices", indices), dtype=np.int64)
        picked = self.codes[indices]
        selected = np.bincount(picked[picked >= 0], minlength=len(self.names)).astype(np.int64)
        table = pd.DataFrame(
            {
                # the same string type label_coverage gives (it depends on the pandas version)
                "label": pd.Series(self.names[self.order], dtype=object).astype(str),
                "available": self.available[self.order],
                "selected": selected[self.order],
            }
        )
        return LabelCoverage(table)


class NearestSelected:
    """Distance from pruned probe sequences to their nearest selected sequence, for any selection.

    Built once per pool: the probes are all sequences when the pool has at most
    ``exact_below`` of them, otherwise a seeded sample of ``n_probes``; for each
    probe its ``n_neighbours`` nearest other pool members are found by blocked
    matrix products. For a selection, a pruned probe's nearest selected sequence
    is the first selected one in that list (exact); probes with no selected
    neighbour in the list are measured directly against the selected set with
    :func:`embedding_coverage`. Those are few: when the
    coreset is a fraction f of the pool, a probe misses with probability about
    ``(1 - f) ** n_neighbours``, and then the coreset is small.

    Args:
        embeddings: ``(N, D)`` embeddings of the pool.
        metric: ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).
        n_neighbours: neighbours kept per probe.
        n_probes: probes of a large pool.
        exact_below: pools up to this size use every sequence as a probe.
        random_state: seed of the probe sample.
    """

    def __init__(
        self,
        embeddings: Any,
        *,
        metric: Metric = "euclidean",
        n_neighbours: int = 64,
        n_probes: int = 1_000,
        exact_below: int = 10_000,
        random_state: int = 0,
    ) -> None:
        matrix = _embedding_matrix(embeddings, metric, min_rows=2)
        total = len(matrix)
        self.metric = metric
        self.matrix = matrix
        self.sampled = total > exact_below
        if self.sampled:
            rng = np.random.default_rng(random_state)
            self.probes = np.sort(rng.choice(total, min(n_probes, total), replace=False))
        else:
            self.probes = np.arange(total, dtype=np.int64)
        self.neighbours, self.distances = self._nearest(min(n_neighbours, total - 1))

    def _nearest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other pool members of each probe and their distances, nearest first.

        Blocks of the pool are compared with all probes by one matrix product.
        The first block fills each probe's list by a partition; later blocks only
        offer the candidates closer than the probe's current k-th neighbour,
        which after a few blocks are few, so the cost is the matrix products.
        """
        matrix = self.matrix
        queries = matrix[self.probes]
        scaled = queries * np.float32(-2.0)
        n_probes = len(queries)
        norms = np.einsum("ij,ij->i", matrix, matrix)
        best = np.full((n_probes, k), np.inf, dtype=np.float32)
        best_index = np.zeros((n_probes, k), dtype=np.int64)
        block = max(2 * k + 2, _PROBE_BLOCK_ENTRIES // max(n_probes, 1))
        for start in range(0, len(matrix), block):
            part = matrix[start : start + block]
            # |q - x|^2 up to |q|^2, which does not change the order for a probe
            scores = scaled @ part.T
            scores += norms[start : start + block]
            own = np.flatnonzero((self.probes >= start) & (self.probes < start + len(part)))
            scores[own, self.probes[own] - start] = np.inf  # a probe is not its own neighbour
            if start == 0:
                first = np.argpartition(scores, k - 1, axis=1)[:, :k]
                best = np.take_along_axis(scores, first, axis=1)
                best_index = first.astype(np.int64)
                continue
            rows, columns = np.nonzero(scores < best.max(axis=1, keepdims=True))
            if len(rows):
                self._merge(best, best_index, rows, scores[rows, columns], columns + start, k)
        # exact distances for the neighbours found (no cancellation from the expansion)
        difference = queries[:, None, :].astype(np.float64) - matrix[best_index]
        distances = _in_metric(
            np.sqrt(np.einsum("ijk,ijk->ij", difference, difference)), self.metric
        )
        order = np.argsort(distances, axis=1, kind="stable")
        return np.take_along_axis(best_index, order, 1), np.take_along_axis(distances, order, 1)

    @staticmethod
    def _merge(
        best: np.ndarray,
        best_index: np.ndarray,
        rows: np.ndarray,
        values: np.ndarray,
        indices: np.ndarray,
        k: int,
    ) -> None:
        """Merge candidates ``(rows, values, indices)`` into each row's k best, in place."""
        touched, counts = np.unique(rows, return_counts=True)
        all_rows = np.concatenate([np.repeat(touched, k), rows])
        all_values = np.concatenate([best[touched].ravel(), values])
        all_indices = np.concatenate([best_index[touched].ravel(), indices])
        order = np.lexsort((all_values, all_rows))
        group_start = np.concatenate([[0], np.cumsum(counts + k)[:-1]])
        rank = np.arange(len(order)) - np.repeat(group_start, counts + k)
        keep = order[rank < k]
        best[touched] = all_values[keep].reshape(-1, k)
        best_index[touched] = all_indices[keep].reshape(-1, k)

    def query(self, selected: Any) -> EmbeddingCoverage:
        """Nearest selected sequence of every pruned probe.

        Args:
            selected: a boolean mask of the pool, or the selected indices.

        Returns:
            an :class:`EmbeddingCoverage` over the pruned
            probes (its ``pruned`` are those probes' pool indices).

        Raises:
            InputError: nothing is selected.
        """
        mask = np.asarray(selected)
        if mask.dtype != bool:
            indices = np.asarray(getattr(selected, "indices", selected), dtype=np.int64)
            mask = np.zeros(len(self.matrix), dtype=bool)
            mask[indices] = True
        if not mask.any():
            raise InputError(NOTHING_SELECTED)
        rows = np.flatnonzero(~mask[self.probes])
        pruned = self.probes[rows]
        hits = mask[self.neighbours[rows]]
        found = hits.any(axis=1)
        first = hits.argmax(axis=1)
        nearest = np.where(found, self.neighbours[rows, first], -1)
        distances = np.where(found, self.distances[rows, first], np.nan)
        missing = np.flatnonzero(~found)
        if len(missing):
            selected_rows = np.flatnonzero(mask)
            subset = np.concatenate([pruned[missing], selected_rows])
            exact = embedding_coverage(
                self.matrix[subset],
                np.arange(len(missing), len(subset)),
                metric="euclidean",  # the matrix is already normalised for cosine
            )
            nearest[missing] = subset[exact.nearest]
            distances[missing] = _in_metric(exact.distances, self.metric)
        return EmbeddingCoverage(pruned, nearest, distances.astype(np.float64), self.metric)


# ------------------------------------------------------------------ redundancy of a pool


def redundancy_summary(labelings: Mapping[str, Any]) -> pd.DataFrame:
    """How redundant a pool is under one or more groupings, one row per grouping.

    A grouping gives each sequence a group: its exact sequence (duplicates), an
    identity cluster, a family, a species ... Missing labels (None, NaN, blank)
    are left out, so ``sequences`` counts the labelled ones only.

    Args:
        labelings: grouping name -> one label per sequence, e.g.
            ``{"exact sequence": pool.sequences, "cluster": labels["cluster"]}``.

    Returns:
        ``grouping``, ``sequences`` (labelled), ``groups``, ``largest`` (members of
        the largest group), ``singletons`` (groups of one), ``in_shared_groups``
        (fraction of sequences whose group has another member) and ``redundant``
        (``1 - groups / sequences``: the fraction a one-per-group subset drops).
    """
    rows = []
    for name, values in labelings.items():
        labels = _known_labels(values, required=False).dropna()
        sizes = labels.value_counts()
        n, groups = len(labels), len(sizes)
        rows.append(
            {
                "grouping": name,
                "sequences": n,
                "groups": groups,
                "largest": int(sizes.max()) if groups else 0,
                "singletons": int((sizes == 1).sum()),
                "in_shared_groups": float(sizes[sizes > 1].sum() / n) if n else float("nan"),
                "redundant": 1.0 - groups / n if n else float("nan"),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class PoolNeighbours:
    """Each sequence's nearest *other* sequence of the same pool in embedding space.

    Attributes:
        nearest: ``(N,)`` index of the nearest other sequence.
        distances: ``(N,)`` that distance (float64), in ``metric``.
        metric: ``"euclidean"`` or ``"cosine"``.
    """

    nearest: np.ndarray
    distances: np.ndarray
    metric: str

    def agreement(self, labelings: Mapping[str, Any]) -> pd.DataFrame:
        """How often a sequence's nearest neighbour shares its label, against chance.

        Only sequences whose own label and whose neighbour's label are known count.
        ``chance`` is the share expected if the neighbour were another labelled
        sequence drawn at random: ``sum_c n_c (n_c - 1) / (n (n - 1))``.

        Args:
            labelings: grouping name -> one label per sequence.

        Returns:
            ``grouping``, ``sequences`` (counted), ``same_label`` and ``chance``.
        """
        rows = []
        for name, values in labelings.items():
            labels = _known_labels(values, required=False)
            if len(labels) != len(self.nearest):
                raise InputError(f"{name}: {len(labels)} labels for {len(self.nearest)} sequences")
            own = labels.to_numpy()
            theirs = own[self.nearest]
            counted = labels.notna().to_numpy() & pd.notna(theirs)
            n = int(counted.sum())
            sizes = labels.value_counts().to_numpy(np.float64)
            known = sizes.sum()
            rows.append(
                {
                    "grouping": name,
                    "sequences": n,
                    "same_label": float((own[counted] == theirs[counted]).mean())
                    if n
                    else float("nan"),
                    "chance": float((sizes * (sizes - 1)).sum() / (known * (known - 1)))
                    if known > 1
                    else float("nan"),
                }
            )
        return pd.DataFrame(rows)


def pool_neighbours(embeddings: Any, *, metric: Metric = "euclidean") -> PoolNeighbours:
    """The nearest other sequence of every sequence in a pool (exact, in blocks).

    Exact duplicates (equal embeddings) are each other's neighbours at distance 0.
    Works in float32 blocks of at most 128 MiB of the N x N distance matrix; the
    distance to the neighbour found is then recomputed directly in float64.

    Args:
        embeddings: ``(N, D)`` embeddings, N >= 2.
        metric: ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).

    Raises:
        ConfigError: an unknown metric.
        InputError: bad embeddings.
    """
    matrix = _embedding_matrix(embeddings, metric, min_rows=2)
    n = len(matrix)
    norms = np.einsum("ij,ij->i", matrix, matrix)
    nearest = np.empty(n, dtype=np.int64)
    rows = max(1, min(n, _BLOCK_ENTRIES // n))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        scores = matrix[start:stop] @ matrix.T  # (rows, N)
        scores *= -2.0
        scores += norms[None, :]
        scores[np.arange(stop - start), np.arange(start, stop)] = np.inf  # not itself
        nearest[start:stop] = np.argmin(scores, axis=1)
    difference = matrix.astype(np.float64) - matrix[nearest]
    distances = np.sqrt(np.einsum("ij,ij->i", difference, difference))
    return PoolNeighbours(nearest, _in_metric(distances, metric), metric)
