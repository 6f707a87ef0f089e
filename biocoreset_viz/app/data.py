"""Computations behind the dashboard that must stay fast for any selection, without Panel.

The dashboard recomputes every view whenever a control moves, at up to a million
sequences. The library's coverage functions answer one selection at a time; the
classes here do the part that does not depend on the selection once, so that a
new selection costs little more than a pass over its indices:

* :class:`LabelIndex`: label values factorized once; :meth:`LabelIndex.coverage`
  returns the same :class:`~biocoreset_viz.coverage.LabelCoverage` as
  :func:`~biocoreset_viz.coverage.label_coverage`, by counting codes;
* :class:`NearestSelected`: each probe sequence's nearest pool neighbours found
  once; the distance of a pruned probe to its nearest selected sequence is then
  the first selected one among them (exact), falling back to
  :func:`~biocoreset_viz.coverage.embedding_coverage` for the probes none of
  whose neighbours is selected.

Also the small guards of the served app: :func:`resolve_run_dir` (no path
traversal) and :func:`read_uploaded_ids` (size-limited, read with the same
readers and errors as the command line).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.coverage import EmbeddingCoverage, LabelCoverage, embedding_coverage
from biocoreset_viz.errors import InputError, RunDirectoryError

# uploads larger than this are refused before they are parsed
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
UPLOAD_SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".fas", ".ffn", ".frn", ".mfa", ".csv", ".tsv")
# float32 entries of one block of the probe x pool distance matrix (64 MiB)
_BLOCK_ENTRIES = 1 << 24


def resolve_run_dir(requested: str | Path | None, root: str | Path) -> Path:
    """The run directory ``requested`` relative to ``root``, refusing anything outside it.

    Symbolic links are resolved first, so a link inside the root that points
    elsewhere is refused too.

    Args:
        requested: a path relative to ``root`` (``None`` or empty: ``root`` itself).
        root: the folder the server may open runs from.

    Raises:
        RunDirectoryError: the path leaves the root, or is not a run directory.
    """
    from biocoreset_viz.runs import ScoreTable

    base = Path(root).resolve()
    text = "" if requested is None else str(requested)
    if "\x00" in text:
        raise RunDirectoryError("run path contains a NUL character")
    candidate = (base / text).resolve()
    if candidate != base and not candidate.is_relative_to(base):
        raise RunDirectoryError(f"run {text!r} is outside the folder this server may open")
    if not ScoreTable.exists(candidate):
        raise RunDirectoryError(f"run {text or '.'!r} is not a run directory with scores")
    return candidate


def read_uploaded_ids(
    data: bytes, filename: str, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> list[str]:
    """The record ids of an uploaded FASTA, CSV or TSV file (optionally gzipped).

    The bytes are checked for size, written to a private temporary file with the
    upload's suffix, and read with :func:`~biocoreset_viz.sequences.read_sequences`,
    so they are validated exactly like a file given to the command line.

    Raises:
        InputError: too large, an unsupported file type, or bad content; the
            message names the uploaded file's name (never the temporary path).
    """
    from biocoreset_viz.sequences import read_sequences

    name = Path(str(filename or "upload")).name or "upload"
    if len(data) > max_bytes:
        raise InputError(
            f"file is {len(data) / 1e6:.1f} MB; uploads are limited to {max_bytes / 1e6:.1f} MB",
            path=name,
        )
    suffixes = [s.lower() for s in Path(name).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if not suffixes or suffixes[-1] not in UPLOAD_SUFFIXES:
        raise InputError(
            f"unsupported file type; upload FASTA, CSV or TSV ({', '.join(UPLOAD_SUFFIXES)}, "
            "optionally .gz)",
            path=name,
        )
    safe_suffix = suffixes[-1] + (".gz" if name.lower().endswith(".gz") else "")
    with tempfile.TemporaryDirectory(prefix="biocoreset-upload-") as folder:
        path = Path(folder) / f"upload{safe_suffix}"
        path.write_bytes(data)
        try:
            return list(read_sequences(path).ids)
        except InputError as error:
            raise InputError(
                error.reason, path=name, line=error.line, record=error.record
            ) from None


def points_in_polygon(x: Any, y: Any, xs: Any, ys: Any) -> np.ndarray:
    """Which points lie inside a polygon (even-odd rule), as a boolean mask.

    Args:
        x, y: point coordinates, ``(N,)``.
        xs, ys: polygon vertices in order (closed implicitly).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    if len(xs) < 3:
        return inside
    # only points inside the polygon's bounding box can be inside it
    box = np.flatnonzero((x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max()))
    px, py = x[box], y[box]
    crossing = np.zeros(len(box), dtype=bool)
    for (x1, y1), (x2, y2) in zip(
        zip(xs, ys, strict=True), zip(np.roll(xs, -1), np.roll(ys, -1), strict=True), strict=True
    ):
        straddles = (y1 > py) != (y2 > py)
        if not straddles.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        crossing ^= straddles & (px < at)
    inside[box] = crossing
    return inside


class LabelIndex:
    """Label values of a pool, factorized once, for fast per-selection coverage.

    Missing labels (``None``, NaN, blank strings) are left out, as in
    :func:`~biocoreset_viz.coverage.label_coverage`.
    """

    def __init__(self, labels: Any) -> None:
        values = pd.Series(np.asarray(labels, dtype=object))
        if len(values) == 0:
            raise ValueError("labels are empty")
        present = values.notna().to_numpy().copy()
        text = values[present].astype(str)
        blank = (text.str.strip() == "").to_numpy()
        present[np.flatnonzero(present)[blank]] = False
        codes, uniques = pd.factorize(values[present].astype(str), sort=False)
        self.n_total = len(values)
        self.codes = np.full(len(values), -1, dtype=np.int64)
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
    :func:`~biocoreset_viz.coverage.embedding_coverage`. Those are few: when the
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
        metric: str = "euclidean",
        n_neighbours: int = 64,
        n_probes: int = 1_000,
        exact_below: int = 10_000,
        random_state: int = 0,
    ) -> None:
        if metric not in ("euclidean", "cosine"):
            raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
        matrix = np.ascontiguousarray(np.asarray(embeddings), dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) < 2:
            raise ValueError(f"embeddings must be an (N, D) array with N >= 2, got {matrix.shape}")
        if metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.where(norms > 0, norms, 1.0)
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
        block = max(2 * k + 2, _BLOCK_ENTRIES // max(n_probes, 1))
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
        distances = np.sqrt(np.einsum("ijk,ijk->ij", difference, difference))
        if self.metric == "cosine":
            distances = distances**2 / 2.0
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
            an :class:`~biocoreset_viz.coverage.EmbeddingCoverage` over the pruned
            probes (its ``pruned`` are those probes' pool indices).

        Raises:
            ValueError: nothing is selected.
        """
        mask = np.asarray(selected)
        if mask.dtype != bool:
            indices = np.asarray(getattr(selected, "indices", selected), dtype=np.int64)
            mask = np.zeros(len(self.matrix), dtype=bool)
            mask[indices] = True
        if not mask.any():
            raise ValueError("indices: no selected sequence to measure distances to")
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
            measured = exact.distances
            distances[missing] = measured**2 / 2.0 if self.metric == "cosine" else measured
        return EmbeddingCoverage(pruned, nearest, distances.astype(np.float64), self.metric)
