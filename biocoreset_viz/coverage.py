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

from biocoreset_viz.selection import Selection, StrataKind, check_scores, stratify

# float32 entries of one block of the pruned x selected distance matrix (128 MiB)
_BLOCK_ENTRIES = 1 << 25


def check_indices(indices: Any, n_total: int) -> np.ndarray:
    """Selected indices as int64, each in ``[0, n_total)`` and distinct.

    Raises:
        ValueError: not 1-D integers, out of range, or repeated.
    """
    if isinstance(indices, Selection):
        indices = indices.indices
    array = np.asarray(indices)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"indices must be a 1-D integer array, got {array.dtype} {array.shape}")
    array = array.astype(np.int64, copy=False)
    if array.min() < 0 or array.max() >= n_total:
        raise ValueError(f"indices must lie in [0, {n_total}), got {array.min()}..{array.max()}")
    if len(np.unique(array)) != len(array):
        raise ValueError("indices contain duplicates")
    return array


@dataclass
class StratumCoverage:
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
        """Strata with at least one member."""
        return int((self.table["available"] > 0).sum())

    @property
    def represented(self) -> int:
        """Strata with at least one selected member."""
        return int((self.table["selected"] > 0).sum())

    @property
    def fraction(self) -> float:
        """Represented strata over non-empty strata."""
        return self.represented / self.non_empty if self.non_empty else float("nan")


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
    metric: Literal["euclidean", "cosine"] = "euclidean",
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
        ValueError: bad embeddings or indices, no selected sequence, unknown metric.
    """
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or len(matrix) == 0:
        raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {matrix.shape}")
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise ValueError("embeddings contain NaN or infinite values")
    indices = check_indices(indices, len(matrix))
    if len(indices) == 0:
        raise ValueError("indices: no selected sequence to measure distances to")
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1.0)
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
    if metric == "cosine":
        distances = distances**2 / 2.0  # unit vectors: |a - b|^2 = 2 (1 - cos)
    return EmbeddingCoverage(pruned, nearest, distances, metric)


@dataclass
class LabelCoverage:
    """Which families or clusters the coreset represents.

    Attributes:
        table: one row per label: ``label``, ``available``, ``selected``, most
            populous label first.
    """

    table: pd.DataFrame

    @property
    def total(self) -> int:
        """Distinct labels in the pool (missing labels aside)."""
        return len(self.table)

    @property
    def represented(self) -> int:
        """Labels with at least one selected member."""
        return int((self.table["selected"] > 0).sum())

    @property
    def fraction(self) -> float:
        """Represented labels over all labels."""
        return self.represented / self.total if self.total else float("nan")


def label_coverage(labels: Any, indices: Any) -> LabelCoverage:
    """Fraction of label values (families, clusters) with a selected member.

    Missing labels (``None``, NaN, empty strings) are left out.

    Args:
        labels: one label per pool sequence, ``(N,)``.
        indices: the selected indices (or a :class:`Selection`).
    """
    values = pd.Series(np.asarray(labels, dtype=object))
    if len(values) == 0:
        raise ValueError("labels are empty")
    indices = check_indices(indices, len(values))
    present = values.notna() & (values.astype(str).str.strip() != "")
    chosen = np.zeros(len(values), dtype=bool)
    chosen[indices] = True
    frame = pd.DataFrame({"label": values[present].astype(str), "selected": chosen[present]})
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


# ------------------------------------------------------------------ redundancy of a pool


def _known_labels(values: Any) -> pd.Series:
    """Labels as strings, missing ones (None, NaN, blank) as NaN."""
    series = pd.Series(np.asarray(values, dtype=object))
    present = series.notna() & (series.astype(str).str.strip() != "")
    return series.astype(str).where(present)


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
        labels = _known_labels(values).dropna()
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
            labels = _known_labels(values)
            if len(labels) != len(self.nearest):
                raise ValueError(f"{name}: {len(labels)} labels for {len(self.nearest)} sequences")
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


def pool_neighbours(
    embeddings: Any, *, metric: Literal["euclidean", "cosine"] = "euclidean"
) -> PoolNeighbours:
    """The nearest other sequence of every sequence in a pool (exact, in blocks).

    Exact duplicates (equal embeddings) are each other's neighbours at distance 0.
    Works in float32 blocks of at most 128 MiB of the N x N distance matrix; the
    distance to the neighbour found is then recomputed directly in float64.

    Args:
        embeddings: ``(N, D)`` embeddings, N >= 2.
        metric: ``"euclidean"`` or ``"cosine"`` (1 - cosine similarity).

    Raises:
        ValueError: bad embeddings or metric.
    """
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    matrix = np.asarray(embeddings)
    if matrix.ndim != 2 or len(matrix) < 2:
        raise ValueError(
            f"embeddings must be an (N, D) array with N >= 2, got shape {matrix.shape}"
        )
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise ValueError("embeddings contain NaN or infinite values")
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = matrix / np.where(norms > 0, norms, 1.0)
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
    if metric == "cosine":
        distances = distances**2 / 2.0
    return PoolNeighbours(nearest, distances, metric)
