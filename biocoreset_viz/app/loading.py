"""What the dashboard reads once per process and shares between the sessions of a run.

The score table (with embeddings), the scored sequences (for the FASTA export),
the nearest-neighbour index, the factorized label columns and the learning
curves do not depend on the controls: each is read or built once per run
directory and cached (:func:`panel.cache`), so a second browser tab on the
same run opens instantly. The learning curves are keyed by the file's time and
size too, so a finished ``biocoreset evaluate`` shows up without a restart. A
run's UMAP map is computed once, in one background thread per process
(:func:`umap_job`).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import panel as pn

from biocoreset_viz.coverage import LabelIndex, NearestSelected
from biocoreset_viz.evaluation.curves import load_curves
from biocoreset_viz.projection import ProjectionSettings, project_umap
from biocoreset_viz.runs import ScoreTable, curves_path, run_sequences

# Label columns that name groups of sequences (the others, like a structure, do not)
NOT_GROUP_LABELS = frozenset({"structure", "description", "sequence", "split", "copies"})

# UMAP runs in one background thread per process, shared by all sessions of a run.
_UMAP_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="biocoreset-umap")
_UMAP_JOBS: dict[tuple[Any, ProjectionSettings], Future] = {}
_UMAP_LOCK = threading.Lock()


@pn.cache(max_items=4)
def load_score_table(run_dir: str) -> ScoreTable:
    """A run's score table with embeddings, read once per process."""
    return ScoreTable.load(run_dir, embeddings=True)


@pn.cache(max_items=4)
def load_run_sequences(run_dir: str) -> Any:
    """The sequences a run scored (for FASTA export), read once per process."""
    return run_sequences(run_dir)


def neighbour_index(embeddings: np.ndarray | None) -> NearestSelected | None:
    """A :class:`NearestSelected` index, or ``None`` without embeddings or with one sequence."""
    if embeddings is None or len(embeddings) < 2:
        return None
    return NearestSelected(embeddings)


@pn.cache(max_items=4)
def load_neighbour_index(run_dir: str) -> NearestSelected | None:
    """The run's :func:`neighbour_index`, built once."""
    return neighbour_index(load_score_table(run_dir).embeddings)


@pn.cache(max_items=16)
def load_label_index(run_dir: str, column: str) -> LabelIndex:
    """A label column of the run, factorized once."""
    return LabelIndex(load_score_table(run_dir).frame[column])


def load_run_curves(run_dir: str) -> pd.DataFrame | None:
    """The run's learning curves (``biocoreset evaluate``), or ``None`` when it has none (yet)."""
    path = curves_path(run_dir)
    if not path.is_file():
        return None
    stat = path.stat()
    return _read_curves(run_dir, stat.st_mtime_ns, stat.st_size)


@pn.cache(max_items=8)
def _read_curves(run_dir: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Read a run's curves once per version of the file (its time and size key the cache)."""
    return load_curves(run_dir)


def umap_job(source: Any, key: Any, settings: ProjectionSettings) -> Future:
    """The background UMAP computation of a run (``source``: its folder or score table).

    Started once per ``key`` and settings, and shared by every session that asks;
    one that failed is started again.
    """
    with _UMAP_LOCK:
        job = _UMAP_JOBS.get((key, settings))
        if job is None or (job.done() and job.exception() is not None):
            job = _UMAP_POOL.submit(project_umap, source, **settings.to_dict())
            _UMAP_JOBS[(key, settings)] = job
    return job


def default_score_scale(scores: np.ndarray) -> str:
    """``log`` for positive scores spanning more than a decade above their median, else ``linear``.

    Self-influence is usually long-tailed: on a linear axis most of the pool
    would sit in the first bars.
    """
    if len(scores) == 0 or scores.min() <= 0:
        return "linear"
    return "log" if scores.max() / 10 > np.median(scores) else "linear"


def group_label_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Label columns that group sequences (families, clusters): some repeated values.

    ``family`` and ``cluster`` come first. A column of unique values (an id, a
    description) or of a single value groups nothing and is left out.
    """
    found = []
    for column in columns:
        if column in NOT_GROUP_LABELS:
            continue
        values = frame[column].dropna()
        if len(values) and 1 < values.nunique() <= max(2, len(frame) // 2):
            found.append(column)
    preferred = ("family", "cluster")
    return sorted(found, key=lambda c: (preferred.index(c) if c in preferred else 2, c))


def colour_label_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Label columns the map can be coloured by: any with at least two values.

    Unlike :func:`group_label_columns`, a column of mostly unique values is kept
    (the map shows its commonest values and "other").
    """
    found = [
        column
        for column in columns
        if column not in NOT_GROUP_LABELS and frame[column].dropna().nunique() > 1
    ]
    preferred = ("family", "cluster")
    return sorted(found, key=lambda c: (preferred.index(c) if c in preferred else 2, c))
