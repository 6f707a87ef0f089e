"""The baselines users expect: uniform random, and embedding diversity (k-means or k-center).

:func:`round_robin` (one member per cluster per round) is shared with the
sequence-identity baseline of :mod:`biocoreset_viz.selection.identity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection.base import BaseSelector
from biocoreset_viz.selection.checks import check_count
from biocoreset_viz.selection.engine import sample_sorted


@dataclass(eq=False, repr=False)
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

    random_state: int | np.random.Generator | None = None

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


@dataclass(eq=False, repr=False)
class EmbeddingDiversity(BaseSelector):
    """Embedding-diversity baseline: cluster-and-sample or k-center greedy.

    ``strategy="kmeans"`` (default): k-means with ``n_clusters`` clusters
    (default ``min(n, 1000)``) on float32 embeddings, then :func:`round_robin`
    over the clusters, the member nearest each centroid first. The centroids are
    fitted on at most :data:`KMEANS_FIT_ROWS` rows (a seeded sample of a larger
    pool): k-means++ seeding (D² sampling, one candidate per step), then at most
    :data:`KMEANS_ITERATIONS` Lloyd iterations (fewer once no row changes
    cluster); every sequence is then assigned to its nearest centroid. Cost
    about O(min(N, KMEANS_FIT_ROWS) * D * n_clusters) per iteration plus one
    O(N * D * n_clusters) assignment, in blocked matrix products. (Until issue 14
    this was scikit-learn's mini-batch k-means with three k-means++ restarts:
    22 s on the 4,223-sequence demo, now well under a second; the clusters,
    hence the selections, differ from those, but stay reproducible for a
    given ``random_state``.)

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

    strategy: Literal["kmeans", "kcenter"] = "kmeans"
    n_clusters: int | None = None
    random_state: int | np.random.Generator | None = None

    def _fit(
        self, scores: np.ndarray | None, n_total: int, n: int, embeddings: np.ndarray
    ) -> np.ndarray:
        if self.strategy not in ("kmeans", "kcenter"):
            raise ConfigError(f"strategy must be 'kmeans' or 'kcenter', got {self.strategy!r}")
        if self.n_clusters is not None:
            check_count(self.n_clusters, "n_clusters")
        rng = np.random.default_rng(self.random_state)
        self.labels_ = None
        self.radius_ = None
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if self.strategy == "kcenter":
            return self._kcenter(embeddings, n, rng)
        return self._kmeans(embeddings, n, rng)

    def _kmeans(self, embeddings: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        total = len(embeddings)
        k = min(self.n_clusters or min(n, 1000), total)
        centres = fit_centroids(embeddings, k, rng)
        labels, distance = nearest_centroid(embeddings, centres)
        first = np.full(k, -1, dtype=np.int64)
        order = np.lexsort((distance, labels))
        starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
        first[labels[order[starts]]] = order[starts]
        self.labels_ = labels
        return round_robin(labels, n, rng, first=first)

    def _kcenter(self, embeddings: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        total = len(embeddings)
        norms = np.einsum("ij,ij->i", embeddings, embeddings)
        nearest = np.full(total, np.inf, dtype=np.float32)
        picked = np.empty(n, dtype=np.int64)
        center = int(rng.integers(total))
        with single_threaded_blas():  # one matrix-vector product per step
            for step in range(n):
                picked[step] = center
                distance = norms - 2.0 * (embeddings @ embeddings[center]) + norms[center]
                np.minimum(nearest, distance, out=nearest)
                nearest[picked[: step + 1]] = -np.inf  # never pick a sequence twice
                center = int(np.argmax(nearest))
        nearest[picked] = 0.0
        self.radius_ = float(np.sqrt(max(float(nearest.max()), 0.0)))
        return np.sort(picked)


# k-means of the diversity baseline: centroids fitted on at most this many rows
KMEANS_FIT_ROWS = 20_000
# Lloyd iterations at most (they stop earlier once no row changes cluster)
KMEANS_ITERATIONS = 10
# distance-matrix entries per block of rows (bounds the memory of one product)
_BLOCK_ENTRIES = 1 << 22


def single_threaded_blas() -> Any:
    """A context in which BLAS runs on one thread.

    The greedy loops (k-means++ seeding, k-center) make one small
    matrix-vector product per step; a multi-threaded BLAS spends more time
    waking its threads than computing them (17 times slower on a busy 2-core
    machine).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def nearest_centroid(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's nearest centre (int64) and the Euclidean distance to it (float64).

    Blocked matrix products, so memory stays about :data:`_BLOCK_ENTRIES` floats.
    """
    total = len(points)
    labels = np.empty(total, dtype=np.int64)
    squared = np.empty(total, dtype=np.float64)
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    block = max(1, _BLOCK_ENTRIES // max(len(centres), 1))
    for start in range(0, total, block):
        rows = points[start : start + block]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; the |x|^2 term does not change the argmin
        partial = centre_norms[None, :] - 2.0 * (rows @ centres.T)
        nearest = np.argmin(partial, axis=1)
        labels[start : start + block] = nearest
        squared[start : start + block] = partial[np.arange(len(rows)), nearest] + np.einsum(
            "ij,ij->i", rows, rows
        )
    return labels, np.sqrt(np.maximum(squared, 0.0))


def kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` distinct seeding rows by D² sampling (Arthur and Vassilvitskii, 2007).

    The first row is uniform; each next one is drawn with probability
    proportional to its squared distance to the nearest row already chosen.
    When every remaining row coincides with a chosen one (duplicates), the rest
    are drawn uniformly from the rows not chosen yet.
    """
    with single_threaded_blas():  # one matrix-vector product per step
        return _kmeans_plus_plus(points, k, rng)


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    total = len(points)
    norms = np.einsum("ij,ij->i", points, points).astype(np.float64)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(total)
    nearest = np.full(total, np.inf)
    for step in range(1, k):
        centre = points[chosen[step - 1]]
        distance = norms - 2.0 * (points @ centre) + norms[chosen[step - 1]]
        np.minimum(nearest, np.maximum(distance, 0.0), out=nearest)
        nearest[chosen[:step]] = 0.0
        weight = float(nearest.sum())
        if weight > 0 and np.isfinite(weight):
            pick = int(np.searchsorted(np.cumsum(nearest), rng.random() * weight, side="right"))
            chosen[step] = min(pick, total - 1)
            if nearest[chosen[step]] == 0.0:  # a rounding edge: take the farthest row
                chosen[step] = int(np.argmax(nearest))
        else:
            free = np.setdiff1d(np.arange(total), chosen[:step], assume_unique=True)
            chosen[step:] = rng.choice(free, k - step, replace=False)
            break
    return chosen


def fit_centroids(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` k-means centroids of ``points`` (see :class:`EmbeddingDiversity`), float32.

    Fitted on at most :data:`KMEANS_FIT_ROWS` rows (a seeded sample of larger
    inputs): k-means++ seeding, then Lloyd iterations until no row changes
    cluster or :data:`KMEANS_ITERATIONS` are done; a cluster left empty keeps
    its centroid.
    """
    rows = points
    if len(points) > KMEANS_FIT_ROWS:
        rows = points[np.sort(rng.choice(len(points), KMEANS_FIT_ROWS, replace=False))]
    # the fit is small (<= KMEANS_FIT_ROWS rows): BLAS threads cost more than they save
    with single_threaded_blas():
        return _lloyd(rows, rows[_kmeans_plus_plus(rows, k, rng)].astype(np.float32))


def _lloyd(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Lloyd iterations from ``centres`` (updated in place and returned)."""
    labels = np.full(len(rows), -1, dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        assigned, _distance = nearest_centroid(rows, centres)
        if np.array_equal(assigned, labels):
            break
        labels = assigned
        order = np.argsort(labels, kind="stable")
        present, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
        sums = np.add.reduceat(rows[order].astype(np.float64), starts, axis=0)
        centres[present] = (sums / counts[:, None]).astype(np.float32)
    return centres
