"""The dashboard's state: controls in, every view's data out.

:class:`DataStore` holds one run's scores, the selection controls (method, α,
β, k, seed, strata) and everything derived from them: the
:class:`~biocoreset_viz.selection.Selection`, the histogram, stratum and label
tables, the nearest-neighbour distances and the summary figures. Moving a
control recomputes them synchronously and bumps :attr:`DataStore.revision`, which
the views watch. The store has no widgets, so it is used the same way from a
notebook, a test or a benchmark::

    store = DataStore("runs/rna")
    store.pruning_rate = 0.95
    store.selection.n, store.summary["strata"]

Selection and coverage come from the library (:func:`make_selector`,
:func:`stratum_coverage`); :mod:`biocoreset_viz.app.data` makes the per-selection
label counts and neighbour distances fast.
"""

from __future__ import annotations

import html
import io
import json
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from biocoreset_viz.app.data import (
    LabelIndex,
    NearestSelected,
    points_in_polygon,
    read_uploaded_ids,
)
from biocoreset_viz.coverage import EmbeddingCoverage, LabelCoverage, stratum_coverage
from biocoreset_viz.errors import BiocoresetError, ConfigError, RunDirectoryError
from biocoreset_viz.plots import RASTERIZE_ABOVE, ScoreBins, map_frame
from biocoreset_viz.projection import (
    ProjectionSettings,
    find_projection,
    pca_coordinates,
    project_umap,
    read_projection,
)
from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.selection import METHODS, Selection, find_mmseqs, make_selector

METHOD_LABELS = {
    "Coverage-Centric Influence (CCI)": "cci",
    "Top-k Influence (Top-I)": "topi",
    "Lowest influence (easiest)": "bottomi",
    "Random": "random",
    "Embedding diversity (k-means)": "diversity",
    "Sequence identity (MMseqs2)": "identity",
}
STRATA_LABELS = {"equal width": "equal_width", "quantile (equal counts)": "quantile"}
CURVES_FILE = Path("evaluation") / "curves.parquet"
# Label columns that name groups of sequences (the others, like a structure, do not)
NOT_GROUP_LABELS = frozenset({"structure", "description", "sequence", "split"})
# Rows listed in the sequence table at most
TABLE_ROWS = 2_000
# Selections remembered per store, so moving a slider back is instant
SELECTION_CACHE = 8

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
    from biocoreset_viz.runs import run_sequences

    return run_sequences(run_dir)


@pn.cache(max_items=4)
def load_neighbour_index(run_dir: str) -> NearestSelected | None:
    """The run's :class:`NearestSelected` index (``None`` without embeddings), built once."""
    table = load_score_table(run_dir)
    return None if table.embeddings is None else NearestSelected(table.embeddings)


@pn.cache(max_items=16)
def load_label_index(run_dir: str, column: str) -> LabelIndex:
    """A label column of the run, factorized once."""
    return LabelIndex(load_score_table(run_dir).frame[column])


def load_curves(run_dir: str) -> pd.DataFrame | None:
    """``RUN_DIR/evaluation/curves.parquet``, or ``None`` when the run has none (yet)."""
    path = Path(run_dir) / CURVES_FILE
    if not path.is_file():
        return None
    stat = path.stat()
    return _read_curves(str(path), stat.st_mtime_ns, stat.st_size)


@pn.cache(max_items=8)
def _read_curves(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Read a curves file once per version (its time and size are part of the cache key)."""
    return pd.read_parquet(path)


def default_score_scale(scores: np.ndarray) -> str:
    """``log`` for positive scores spanning more than a decade above their median, else ``linear``.

    Self-influence is usually long-tailed: on a linear axis most of the pool
    would sit in the first bars.
    """
    if len(scores) == 0 or scores.min() <= 0:
        return "linear"
    return "log" if scores.max() > 10 * np.median(scores) else "linear"


def group_label_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """Label columns that group sequences (families, clusters): some repeated values."""
    found = []
    for column in columns:
        if column in NOT_GROUP_LABELS:
            continue
        values = frame[column].dropna()
        if len(values) and 1 < values.nunique() <= max(2, len(frame) // 2):
            found.append(column)
    preferred = ("family", "cluster")
    return sorted(found, key=lambda c: (preferred.index(c) if c in preferred else 2, c))


class DataStore(param.Parameterized):
    """One run's scores, the selection controls, and every view's data.

    Create it from a run directory (read once per process) or from a
    :class:`~biocoreset_viz.runs.ScoreTable` in memory. Derived data, current
    after each change of a control: :attr:`selection`, :attr:`selected` (mask),
    :attr:`histogram`, :attr:`strata_table`, :attr:`cutoff`, :attr:`labels`,
    :attr:`neighbours`, :attr:`summary`; :meth:`map_frame` gives the map's points.

    Args:
        run_dir: a run directory.
        table: a score table instead of ``run_dir``.
        umap: compute a UMAP map in a background thread when none is cached
            (PCA is shown meanwhile); ``False`` keeps PCA unless a UMAP map is cached.
        projection: a precomputed map (``index``, ``x``, ``y``) to use as is.
        **params: initial control values (``method``, ``pruning_rate`` ...).
    """

    method = param.Selector(
        default="cci",
        objects=METHOD_LABELS,
        doc="Selection method: CCI (the paper's), Top-I, or a baseline.",
    )
    pruning_rate = param.Number(
        default=0.9,
        bounds=(0.0, 0.99),
        step=0.01,
        doc="α, the fraction of the pool removed; the coreset keeps round((1 - α) N).",
    )
    hard_cutoff = param.Number(
        default=0.1,
        bounds=(0.0, 0.5),
        step=0.01,
        doc="β (CCI), the fraction of most influential sequences dropped first as likely noise.",
    )
    n_strata = param.Integer(
        default=50,
        bounds=(1, 200),
        doc="k (CCI), the number of score strata the coreset draws from evenly.",
    )
    strata = param.Selector(
        default="equal_width",
        objects=STRATA_LABELS,
        doc="CCI strata: equal-width slices of the score range, or equal-count quantiles.",
    )
    seed = param.Integer(
        default=0, bounds=(0, 2**31 - 1), doc="Random seed of CCI's draws and of the baselines."
    )
    score_scale = param.Selector(
        default="linear",
        objects=["linear", "log"],
        doc="Score axis of the histogram (default: log for long-tailed positive scores).",
    )
    label_column = param.Selector(
        default=None, objects=[], allow_None=True, doc="Labels shown in the redundancy view."
    )

    revision = param.Integer(default=0, doc="Bumped after every recompute; views watch it.")
    error = param.String(
        default="", doc="Why the last control change could not be applied ('' when it could)."
    )
    projection_kind = param.Selector(
        default="none", objects=["none", "pca", "umap"], doc="What the map currently shows."
    )
    projection_status = param.String(default="", doc="One line about the map's projection.")
    brushed = param.Array(
        default=np.empty(0, dtype=np.int64), doc="Indices inside the box or lasso drawn on the map."
    )
    highlighted = param.Array(
        default=np.empty(0, dtype=np.int64), doc="Indices of uploaded ids to highlight."
    )
    highlight_message = param.String(default="", doc="Result of the last highlight upload.")

    def __init__(
        self,
        run_dir: str | Path | None = None,
        *,
        table: ScoreTable | None = None,
        umap: bool = True,
        projection: pd.DataFrame | None = None,
        umap_settings: ProjectionSettings | None = None,
        **params: Any,
    ) -> None:
        if (run_dir is None) == (table is None):
            raise ValueError("give exactly one of run_dir and table")
        super().__init__(**params)
        if run_dir is not None:
            run_dir = Path(run_dir).resolve()
            table = load_score_table(str(run_dir))
        self.run_dir: Path | None = run_dir if run_dir is not None else table.run_dir
        self.table: ScoreTable = table
        self.frame = table.frame
        self.scores = table.scores
        self.ids = table.ids
        self.n_total = len(table)
        self.embeddings = table.embeddings
        self.manifest = table.manifest
        self.umap_settings = umap_settings or ProjectionSettings()

        self.param.method.objects = {
            name: key for name, key in METHOD_LABELS.items() if self._method_available(key)
        }
        if "score_scale" not in params:
            self.score_scale = default_score_scale(self.scores)
        groups = group_label_columns(self.frame, table.label_columns)
        self.param.label_column.objects = groups
        if self.label_column not in groups:
            self.label_column = groups[0] if groups else None
        # the parts that do not depend on the selection, shared by the sessions of a run
        shared = str(self.run_dir) if run_dir is not None else None
        self._label_index = {
            column: load_label_index(shared, column) if shared else LabelIndex(self.frame[column])
            for column in groups
        }
        if shared:
            self._nearest = load_neighbour_index(shared)
        else:
            self._nearest = None if self.embeddings is None else NearestSelected(self.embeddings)
        self._bins: dict[str, ScoreBins] = {}
        self._selections: OrderedDict[tuple, Selection] = OrderedDict()
        self._map_base: pd.DataFrame | None = None
        self._map_coordinates: tuple[np.ndarray, np.ndarray] | None = None
        self._umap_job: Future | None = None
        self._init_projection(projection, umap)
        self.recompute()
        if self.error:  # initial controls the method refuses: nothing to show
            raise ConfigError(self.error)

    # ------------------------------------------------------------- controls

    def _method_available(self, method: str) -> bool:
        if method == "diversity":
            return self.embeddings is not None
        if method == "identity":
            try:
                find_mmseqs()
            except BiocoresetError:
                return False
            return self.fasta_unavailable() is None
        return True

    def selector_params(self) -> dict[str, Any]:
        """The current controls as parameters of the current method's selector."""
        candidates = {
            "pruning_rate": float(self.pruning_rate),
            "hard_cutoff": float(self.hard_cutoff),
            "n_strata": int(self.n_strata),
            "strata": self.strata,
            "random_state": int(self.seed),
        }
        accepted = METHODS[self.method]._param_names()
        return {k: v for k, v in candidates.items() if k in accepted}

    @param.depends(
        "method", "pruning_rate", "hard_cutoff", "n_strata", "strata", "seed", watch=True
    )
    def _controls_changed(self) -> None:
        self.recompute()

    @param.depends("score_scale", "label_column", watch=True)
    def _display_changed(self) -> None:
        if not hasattr(self, "selection"):  # still in __init__
            return
        self.histogram = self._score_bins().table(self.selection.indices)
        self.revision += 1

    def coreset_size(self) -> int:
        """The coreset size the current α gives (what the α slider shows)."""
        from biocoreset_viz.selection import coreset_size

        return coreset_size(self.n_total, float(self.pruning_rate), None)

    # ------------------------------------------------------------ recompute

    def _select(self) -> Selection:
        params = self.selector_params()
        key = (self.method, tuple(sorted(params.items())))
        cached = self._selections.get(key)
        if cached is not None:
            self._selections.move_to_end(key)
            return cached
        selector = make_selector(self.method, **params)
        if self.method == "identity":
            from biocoreset_viz.selection import align_sequences

            sequences = load_run_sequences(str(self.run_dir))
            selector.fit(self.scores, sequences=align_sequences(self.ids, sequences))
        else:
            selector.fit(self.scores, self.embeddings if selector.uses_embeddings else None)
        selection = selector.to_selection(self.ids, source_run=self.run_dir)
        self._selections[key] = selection
        while len(self._selections) > SELECTION_CACHE:
            self._selections.popitem(last=False)
        return selection

    def recompute(self) -> None:
        """Select with the current controls and refresh every view's data.

        A control value the method refuses (e.g. α < β for CCI) leaves the last
        valid selection in place and puts the reason in :attr:`error`.
        """
        try:
            selection = self._select()
        except (ValueError, BiocoresetError) as error:
            self.error = str(error).splitlines()[0]
            return
        indices = selection.indices
        selected = np.zeros(self.n_total, dtype=bool)
        selected[indices] = True
        self.selection = selection
        self.selected = selected
        self.histogram = self._score_bins().table(indices)
        if selection.strata is not None:  # CCI's own strata, budgets included
            self.strata_table = selection.strata
            self.selected_in_cutoff = 0
            self.cutoff = selection.summary.get("cutoff_value")
        else:  # the strata CCI would use, to compare methods on the same footing
            coverage = stratum_coverage(
                self.scores,
                indices,
                n_strata=int(self.n_strata),
                strata=self.strata,
                hard_cutoff=float(self.hard_cutoff),
            )
            self.strata_table = coverage.table
            self.selected_in_cutoff = coverage.selected_in_cutoff
            self.cutoff = None
        self.labels: dict[str, LabelCoverage] = {
            column: index.coverage(indices) for column, index in self._label_index.items()
        }
        self.neighbours: EmbeddingCoverage | None = (
            self._nearest.query(selected) if self._nearest is not None and len(indices) else None
        )
        self.summary = self._summary()
        self.param.update(error="", revision=self.revision + 1)

    def _score_bins(self) -> ScoreBins:
        scale = self.score_scale
        if scale not in self._bins:
            log = scale == "log" and bool((self.scores > 0).any())
            self._bins[scale] = ScoreBins.fit(self.scores, bins=60, log=log)
        return self._bins[scale]

    @property
    def strata_edges(self) -> np.ndarray:
        """Inner boundaries of the current strata (for the histogram)."""
        return self.strata_table["left"].to_numpy()[1:]

    def _summary(self) -> dict[str, Any]:
        table = self.strata_table
        summary: dict[str, Any] = {
            "pool": self.n_total,
            "coreset": self.selection.n,
            "kept_fraction": self.selection.n / self.n_total,
            "strata": (int((table["selected"] > 0).sum()), int((table["available"] > 0).sum())),
            "labels": {c: (cov.represented, cov.total) for c, cov in self.labels.items()},
        }
        if self.neighbours is not None and len(self.neighbours.distances):
            summary["nn_median"] = self.neighbours.median
            summary["nn_sampled"] = bool(self._nearest.sampled)
        return summary

    # ----------------------------------------------------------- projection

    def _init_projection(self, projection: pd.DataFrame | None, umap: bool) -> None:
        if projection is not None:
            self.use_projection(projection, "umap")
            return
        if self.embeddings is None:
            self.projection_status = "This run has no embeddings: no map."
            return
        if self.run_dir is not None:
            found = find_projection(self.run_dir, self.umap_settings)
            if found is not None:
                self.use_projection(read_projection(found, self.n_total), "umap")
                return
        coordinates = pca_coordinates(self.embeddings)
        pca = pd.DataFrame(
            {
                "index": self.frame["index"].to_numpy(),
                "x": coordinates[:, 0],
                "y": coordinates[:, 1],
            }
        )
        self.use_projection(pca, "pca")
        if umap:
            self.start_umap()
        else:
            self.projection_status = "PCA of the embeddings."

    def use_projection(self, projection: pd.DataFrame, kind: str) -> None:
        """Show ``projection`` (``index``, ``x``, ``y``) on the map; ``kind`` is ``pca`` or ``umap``."""
        hover = (
            () if self.n_total > RASTERIZE_ABOVE else ("id", "length", "self_influence", "family")
        )
        self._map_base = map_frame(projection, self.frame, None, hover=hover)
        self._map_coordinates = (
            self._map_base["x"].to_numpy(np.float64),
            self._map_base["y"].to_numpy(np.float64),
        )
        settings = self.umap_settings
        self.projection_status = (
            f"UMAP of the embeddings ({settings.metric}, n_neighbors={settings.n_neighbors}, "
            f"min_dist={settings.min_dist})."
            if kind == "umap"
            else "PCA of the embeddings."
        )
        self.brushed = np.empty(0, dtype=np.int64)
        self.projection_kind = kind

    def start_umap(self) -> Future:
        """Compute (or reuse) the UMAP map in the background; :meth:`poll_projection` applies it."""
        source: Any = self.run_dir if self.run_dir is not None else self.table
        key = (
            str(self.run_dir) if self.run_dir is not None else id(self.table),
            self.umap_settings,
        )
        settings = self.umap_settings.to_dict()
        with _UMAP_LOCK:
            job = _UMAP_JOBS.get(key)
            if job is None or (job.done() and job.exception() is not None):
                job = _UMAP_POOL.submit(project_umap, source, **settings)
                _UMAP_JOBS[key] = job
        self._umap_job = job
        self.projection_status = "PCA of the embeddings; UMAP is being computed in the background…"
        return job

    def poll_projection(self) -> bool:
        """Apply a finished UMAP computation; ``True`` once there is nothing left to wait for."""
        job = self._umap_job
        if job is None:
            return True
        if not job.done():
            return False
        self._umap_job = None
        error = job.exception()
        if error is not None:
            self.projection_status = f"PCA of the embeddings (UMAP failed: {error})."
        else:
            self.use_projection(job.result(), "umap")
        return True

    def wait_for_projection(self, timeout: float | None = None) -> None:
        """Block until the background UMAP is done and apply it (for notebooks and tests)."""
        if self._umap_job is not None:
            self._umap_job.exception(timeout=timeout)
        self.poll_projection()

    def map_frame(self) -> pd.DataFrame | None:
        """The map's points: ``x``, ``y``, ``status`` and hover columns (``None``: no map)."""
        if self._map_base is None:
            return None
        frame = self._map_base.copy(deep=False)
        frame["status"] = pd.Categorical.from_codes(
            self.selected.astype(np.int8), categories=["pruned", "coreset"]
        )
        return frame

    # ----------------------------------------------------- brushing, table

    def brush_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """List the sequences inside a box drawn on the map."""
        if self._map_coordinates is None:
            return
        x, y = self._map_coordinates
        left, right = sorted((x0, x1))
        bottom, top = sorted((y0, y1))
        inside = (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
        self.brushed = np.flatnonzero(inside)

    def brush_lasso(self, xs: Any, ys: Any) -> None:
        """List the sequences inside a lasso polygon drawn on the map."""
        if self._map_coordinates is None:
            return
        x, y = self._map_coordinates
        self.brushed = np.flatnonzero(points_in_polygon(x, y, xs, ys))

    def clear_brush(self) -> None:
        self.brushed = np.empty(0, dtype=np.int64)

    def table_rows(self, limit: int = TABLE_ROWS) -> tuple[pd.DataFrame, str]:
        """The rows the sequence table lists, and a caption saying which they are.

        The region drawn on the map when there is one, else the highlighted
        (uploaded) sequences, else the coreset, most influential first.
        """
        if len(self.brushed):
            rows, what, order = self.brushed, "in the region drawn on the map", "listed"
        elif len(self.highlighted):
            rows, what, order = self.highlighted, "highlighted from your upload", "listed"
        else:
            rows = self.selection.indices
            what = "in the coreset (draw a box or lasso on the map to list a region)"
            order = "most influential listed"
        total = len(rows)
        if order != "listed":  # the coreset, most influential first
            scores = -self.scores[rows]
            if total > limit:  # only the listed ones need sorting
                top = np.argpartition(scores, limit - 1)[:limit]
                rows, scores = rows[top], scores[top]
            rows = rows[np.argsort(scores, kind="stable")]
        rows = rows[:limit]
        columns = [c for c in ("id", "self_influence", "length") if c in self.frame.columns]
        columns += list(self._label_index)
        shown = self.frame.iloc[rows][columns].reset_index(drop=True)
        shown.insert(1, "status", np.where(self.selected[rows], "coreset", "pruned"))
        caption = f"{total:,} sequences {what}"
        if total > limit:
            caption += f"; the first {limit:,} {order}"
        return shown, caption

    # ------------------------------------------------------------ uploads

    def highlight_ids(self, ids: Any) -> int:
        """Highlight these sequence ids; returns how many are not in the pool."""
        wanted = pd.Index([str(i) for i in ids])
        positions = pd.Index(self.ids.astype(str)).get_indexer(wanted)
        found = np.unique(positions[positions >= 0]).astype(np.int64)
        missing = int((positions < 0).sum())
        self.highlighted = found
        return missing

    def highlight_upload(self, data: bytes, filename: str) -> None:
        """Highlight the ids of an uploaded FASTA/CSV/TSV file.

        Raises:
            InputError: too large, unsupported, or unreadable (one line, naming the file).
        """
        ids = read_uploaded_ids(data, filename)
        missing = self.highlight_ids(ids)
        found = len(self.highlighted)
        message = f"{filename}: {found:,} of {len(ids):,} ids found in this run"
        if missing:
            message += f" ({missing:,} not in the pool)"
        self.highlight_message = message

    # ------------------------------------------------------------- exports

    def fasta_unavailable(self) -> str | None:
        """Why the coreset's FASTA cannot be exported, or ``None`` when it can."""
        if self.run_dir is None:
            return "the scores were not loaded from a run directory"
        recorded = (self.manifest.get("input") or {}).get("path")
        if not recorded:
            return "the run's manifest records no input sequence file"
        if str(recorded).startswith("demo:"):
            return None
        if Path(recorded).is_file() or (self.run_dir / recorded).is_file():
            return None
        return "the scored input file recorded in the manifest is missing"

    def coreset_fasta(self) -> bytes:
        """The coreset's sequences as FASTA, exactly its records.

        Raises:
            RunDirectoryError: the run's input sequences cannot be found.
        """
        reason = self.fasta_unavailable()
        if reason is not None:
            raise RunDirectoryError(f"cannot export FASTA: {reason}")
        sequences = load_run_sequences(str(self.run_dir))
        with tempfile.TemporaryDirectory(prefix="biocoreset-export-") as folder:
            path = self.selection.to_fasta(Path(folder) / "coreset.fasta", sequences)
            return path.read_bytes()

    def coreset_csv(self) -> bytes:
        """``index,id`` of the coreset as CSV."""
        with tempfile.TemporaryDirectory(prefix="biocoreset-export-") as folder:
            return self.selection.to_csv(Path(folder) / "coreset.csv").read_bytes()

    def coreset_manifest(self) -> bytes:
        """The selection's JSON manifest: method, parameters, seed, indices and ids."""
        return (json.dumps(self.selection.to_dict(), indent=2) + "\n").encode("utf-8")

    def export_name(self) -> str:
        """A file-name stem for exports (the selection's name)."""
        return self.selection.name

    # ------------------------------------------------------------ run info

    def curves(self) -> pd.DataFrame | None:
        """The run's downstream learning curves, or ``None``."""
        return None if self.run_dir is None else load_curves(str(self.run_dir))

    def run_title(self) -> str:
        """A short description of the run as HTML (names escaped), for headers."""
        name = self.run_dir.name if self.run_dir is not None else "in-memory scores"
        model = self.manifest.get("model")
        model = model.get("name") if isinstance(model, dict) else model
        text = f"<code>{html.escape(name)}</code>: {self.n_total:,} sequences"
        if model:
            text += f" scored by <code>{html.escape(str(model))}</code>"
        return text


def export_bytes(data: bytes) -> io.BytesIO:
    """Bytes as a file object for a download button."""
    return io.BytesIO(data)
