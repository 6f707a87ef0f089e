"""The dashboard's state: controls in, every view's data out.

:class:`DataStore` holds one run's scores, the selection controls (method, the
score variant it ranks by, α, β, k, seed, strata) and everything derived from them: the
:class:`~biocoreset_viz.selection.Selection`, the histogram, stratum and label
tables, the nearest-neighbour distances and the summary figures. Moving a
control recomputes them and bumps :attr:`DataStore.revision`, which the views
watch. The store has no widgets, so it is used the same way from a notebook, a
test or a benchmark::

    store = DataStore("runs/rna")
    store.pruning_rate = 0.95
    store.selection.n, store.summary["strata"]

The controls say one truth: α is kept where the method can honour it (for CCI
the coreset must fit in what survives β, so α is raised, with a plain-words
:attr:`~DataStore.note`, rather than left showing a size the coreset does not
have), and every message names the controls as the page does ("α (pruning
rate)", :func:`~biocoreset_viz.selection.controls.in_control_terms`).

Slow methods (embedding diversity, sequence identity) run in a worker thread
once :meth:`DataStore.select_in_background` is called (the served page does):
meanwhile :attr:`~DataStore.busy` says what is computed and the views show that
instead of the previous method's numbers. Without it (notebooks, tests) every
change is applied before the assignment returns.

Selection and coverage come from the library (:func:`make_selector`, with the
controls turned into selector parameters by
:func:`biocoreset_viz.selection.controls.selector_params`; :func:`stratum_coverage`,
and the per-selection fast :class:`~biocoreset_viz.coverage.LabelIndex` and
:class:`~biocoreset_viz.coverage.NearestSelected`). The parts that do not depend
on the selection are read or built once per process (:mod:`.loading`).
"""

from __future__ import annotations

import contextlib
import html
import math
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from biocoreset_viz.app.exporting import CoresetExports
from biocoreset_viz.app.guards import read_uploaded_ids
from biocoreset_viz.app.loading import (
    colour_label_columns,
    default_score_scale,
    group_label_columns,
    load_label_index,
    load_neighbour_index,
    load_run_curves,
    load_run_sequences,
    load_score_table,
    neighbour_index,
)
from biocoreset_viz.app.map_projection import MapProjection
from biocoreset_viz.app.score_choice import ScoreChoice
from biocoreset_viz.coverage import (
    EmbeddingCoverage,
    LabelCoverage,
    LabelIndex,
    stratum_coverage,
)
from biocoreset_viz.errors import BiocoresetError, ConfigError
from biocoreset_viz.plots import RASTERIZE_ABOVE, ScoreBins, label_groups, map_frame
from biocoreset_viz.projection import (
    ProjectionSettings,
)
from biocoreset_viz.runs import ScoreTable
from biocoreset_viz.score_variants import SELF_INFLUENCE
from biocoreset_viz.selection import (
    Selection,
    coreset_size,
    find_mmseqs,
    make_selector,
    with_score,
)
from biocoreset_viz.selection.controls import CONTROLS, in_control_terms, selector_params
from biocoreset_viz.sequences import sequences_for_ids

__all__ = ["DataStore", "default_score_scale", "group_label_columns", "load_score_table"]

METHOD_LABELS = {
    "Coverage-Centric Influence (CCI)": "cci",
    "Top-k Influence (Top-I)": "topi",
    "Lowest influence (easiest)": "bottomi",
    "Random": "random",
    "Embedding diversity (k-means)": "diversity",
    "Sequence identity (MMseqs2)": "identity",
}
METHOD_NAMES = {key: name for name, key in METHOD_LABELS.items()}
# Methods that can take seconds: selected in a worker thread on a served page
SLOW_METHODS = frozenset({"diversity", "identity"})
STRATA_LABELS = {"equal width": "equal_width", "quantile (equal counts)": "quantile"}
# The map colouring that is not a label column
MAP_STATUS = "coreset or pruned"
# Rows listed in the sequence table at most
TABLE_ROWS = 2_000
# Selections remembered per store, so moving a slider back is instant
SELECTION_CACHE = 8
# α values the slider offers (its step)
ALPHA_STEP = 0.01

# Slow selections of every session share two worker threads.
_SELECT_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="biocoreset-select")


def _label(parameter: str) -> str:
    return CONTROLS[parameter].label


class DataStore(CoresetExports, ScoreChoice, MapProjection, param.Parameterized):
    """One run's scores, the selection controls, and every view's data.

    Create it from a run directory (read once per process) or from a
    :class:`~biocoreset_viz.runs.ScoreTable` in memory. Derived data, current
    after each change of a control: :attr:`selection`, :attr:`selected` (mask),
    :attr:`histogram`, :attr:`strata_table`, :attr:`cutoff`, :attr:`labels`,
    :attr:`neighbours`, :attr:`summary`; :meth:`map_frame` gives the map's
    points and :meth:`length_frame` those of the score-vs-length view.

    Any run opens: with or without label columns and embeddings, with one
    sequence, with equal or extreme (finite) scores. The initial α is lowered
    when it would leave a tiny pool with an empty coreset.

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
        step=ALPHA_STEP,
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
    map_colour = param.Selector(
        default=MAP_STATUS,
        objects=[MAP_STATUS],
        doc="What colours the map: coreset or pruned, or the values of a label column.",
    )

    revision = param.Integer(default=0, doc="Bumped after every recompute; views watch it.")
    error = param.String(
        default="", doc="Why the last control change could not be applied ('' when it could)."
    )
    note = param.String(
        default="", doc="A plain-words note on the controls (a value moved, an empty coreset)."
    )
    busy = param.String(
        default="", doc="What is being selected in the background ('' when nothing)."
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
            raise ConfigError("give exactly one of run_dir and table")
        score = params.pop("score", SELF_INFLUENCE)
        super().__init__(**params)
        if run_dir is not None:
            run_dir = Path(run_dir).resolve()
            table = load_score_table(str(run_dir))
        self.run_dir: Path | None = run_dir if run_dir is not None else table.run_dir
        self.table: ScoreTable = table
        self.frame = table.frame
        self.ids = table.ids
        self.n_total = len(table)
        self.embeddings = table.embeddings
        self.manifest = table.manifest
        self._init_score(self.frame, table.scores, score)
        self.scores = self.score_array(score)
        self.param.watch(self._score_changed, "score")
        self.umap_settings = umap_settings or ProjectionSettings()
        self._clamping = False
        self._ready = False
        self._schedule: Callable[[Callable[[], None]], None] | None = None
        self._batch: Callable[[], Any] = contextlib.nullcontext
        self._generation = 0

        self.param.method.objects = {
            name: key for name, key in METHOD_LABELS.items() if self._method_available(key)
        }
        if "score_scale" not in params:
            self.score_scale = default_score_scale(self.scores)
        if "pruning_rate" not in params:
            self.pruning_rate = self._alpha_keeping_one()
        self._init_labels(table.label_columns)
        self._bins: dict[str, ScoreBins] = {}
        self._selections: OrderedDict[tuple, Selection] = OrderedDict()
        self._colour_groups: dict[str, pd.Categorical] = {}
        self._map_base: pd.DataFrame | None = None
        self._map_coordinates: tuple[np.ndarray, np.ndarray] | None = None
        self._length_base = self._init_length()
        self._umap_job: Future | None = None
        self._init_projection(projection, umap)
        self._ready = True
        self.recompute()
        if self.error:  # initial controls the method refuses: nothing to show
            raise ConfigError(self.error)

    def _score_changed(self, _: Any) -> None:
        # the score axis, bins and length view follow the new score; then select by it
        self.scores = self.score_array(self.score)
        self._bins = {}
        self._length_base = self._init_length()
        with self._batch():
            self.score_scale = default_score_scale(self.scores)
            self.recompute()

    def _init_labels(self, columns: list[str]) -> None:
        """The redundancy view's and the map's label choices, and the label indexes."""
        groups = group_label_columns(self.frame, columns)
        #: the label columns that group sequences (the redundancy view's choices)
        self.group_columns: list[str] = groups
        # a copy: param adds None to a Selector's own list of objects when None is set
        self.param.label_column.objects = list(groups)
        if self.label_column not in groups:
            self.label_column = groups[0] if groups else None
        self.param.map_colour.objects = [MAP_STATUS, *colour_label_columns(self.frame, columns)]
        if self.map_colour not in self.param.map_colour.objects:
            self.map_colour = MAP_STATUS
        shared = str(self.run_dir) if self.table.run_dir is not None else None
        self._label_index: dict[str, LabelIndex] = {
            column: load_label_index(shared, column) if shared else LabelIndex(self.frame[column])
            for column in groups
        }
        self._nearest = load_neighbour_index(shared) if shared else neighbour_index(self.embeddings)

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
        values = {
            "pruning_rate": float(self.pruning_rate),
            "hard_cutoff": float(self.hard_cutoff),
            "n_strata": int(self.n_strata),
            "strata": self.strata,
            "random_state": int(self.seed),
        }
        return selector_params(self.method, values)

    @param.depends(
        "method", "pruning_rate", "hard_cutoff", "n_strata", "strata", "seed", watch=True
    )
    def _controls_changed(self) -> None:
        # not while __init__ sets defaults, nor for a value moved by recompute() itself
        if self._ready and not self._clamping:
            with self._batch():
                self.recompute()

    @param.depends("score_scale", "label_column", watch=True)
    def _display_changed(self) -> None:
        if not hasattr(self, "selection"):  # still in __init__
            return
        self.histogram = self._score_bins().table(self.selection.indices)
        self.revision += 1

    def coreset_size(self) -> int:
        """The coreset size the current α gives (for CCI, α is kept where it fits)."""
        return coreset_size(self.n_total, float(self.pruning_rate), None)

    def eligible(self) -> int:
        """How many sequences survive the hard cutoff β (what a CCI coreset draws from)."""
        return self.n_total - math.floor(float(self.hard_cutoff) * self.n_total)

    def alpha_floor(self) -> float:
        """The smallest α the slider offers that the current method accepts.

        0 except for CCI, whose coreset must fit in the sequences that survive β.
        """
        if self.method != "cci":
            return 0.0
        eligible = self.eligible()
        steps = round(self.param.pruning_rate.bounds[1] / ALPHA_STEP)
        for step in range(steps + 1):
            alpha = round(step * ALPHA_STEP, 2)
            if coreset_size(self.n_total, alpha, None) <= eligible:
                return alpha
        return self.param.pruning_rate.bounds[1]

    def _alpha_keeping_one(self) -> float:
        """The default α, lowered (on the slider's steps) until the coreset is not empty."""
        alpha = float(self.pruning_rate)
        while alpha > 0 and coreset_size(self.n_total, alpha, None) == 0:
            alpha = round(alpha - ALPHA_STEP, 2)
        return max(alpha, 0.0)

    def _clamp_controls(self) -> str:
        """Move α and k to where CCI can honour them; a note saying what moved ('' if nothing)."""
        if self.method != "cci":
            return ""
        eligible, beta = self.eligible(), float(self.hard_cutoff)
        changes: dict[str, Any] = {}
        notes = []
        if self.coreset_size() > eligible:
            changes["pruning_rate"] = self.alpha_floor()
            notes.append(
                f"{_label('pruning_rate')} raised to {changes['pruning_rate']:.2f}: a CCI "
                f"coreset holds at most the {eligible:,} sequences that survive "
                f"{_label('hard_cutoff')} {beta:.2f}."
            )
        if self.n_strata > eligible:
            changes["n_strata"] = eligible
            notes.append(
                f"{_label('n_strata')} lowered to {eligible:,}: no more strata than the "
                f"{eligible:,} sequences that survive {_label('hard_cutoff')} {beta:.2f}."
            )
        if changes:
            self._clamping = True
            try:
                self.param.update(**changes)
            finally:
                self._clamping = False
        return " ".join(notes)

    # ------------------------------------------------------------ recompute

    def _request(self) -> tuple[tuple, dict[str, Any]]:
        params = self.selector_params()
        return (self.method, self.score, tuple(sorted(params.items()))), params

    def _compute(self, method: str, score: str, params: dict[str, Any]) -> Selection:
        """Select (any thread): reads only the run's arrays, changes nothing in the store."""
        selector = make_selector(method, **params)
        scores = self.score_array(score)
        if method == "identity":
            sequences = load_run_sequences(str(self.run_dir))
            selector.fit(scores, sequences=sequences_for_ids(self.ids, sequences, role="scored"))
        else:
            selector.fit(scores, self.embeddings if selector.uses_embeddings else None)
        return with_score(selector.to_selection(self.ids, source_run=self.run_dir), score)

    def _remember(self, key: tuple, selection: Selection) -> Selection:
        self._selections[key] = selection
        self._selections.move_to_end(key)
        while len(self._selections) > SELECTION_CACHE:
            self._selections.popitem(last=False)
        return selection

    def select_in_background(
        self,
        schedule: Callable[[Callable[[], None]], None],
        batch: Callable[[], Any] | None = None,
    ) -> None:
        """Select slow methods in a worker thread from now on.

        Args:
            schedule: runs a function on the thread that owns the views (a served
                page passes its document's ``add_next_tick_callback``).
            batch: a context manager factory around each update of the views (a
                served page holds its document, so that the browser gets one message).
        """
        self._schedule = schedule
        self._batch = batch or contextlib.nullcontext

    def recompute(self) -> None:
        """Select with the current controls and refresh every view's data.

        α and k are first moved where CCI can honour them (:attr:`note` says so).
        A control value the method still refuses leaves the last valid selection
        in place and puts the reason, in the controls' names, in :attr:`error`.
        A slow method with :meth:`select_in_background` on sets :attr:`busy` and
        applies its selection when the worker is done, unless a newer change
        came first.
        """
        note = self._clamp_controls()
        key, params = self._request()
        self._generation += 1
        selection = self._selections.get(key)
        if selection is None and self._schedule is not None and self.method in SLOW_METHODS:
            self._select_in_worker(key, params, note)
            return
        try:
            selection = selection or self._remember(
                key, self._compute(self.method, self.score, params)
            )
        except (ValueError, BiocoresetError) as error:
            self._refuse(error, note)
            return
        self._remember(key, selection)
        self._apply(selection, note)

    def _select_in_worker(self, key: tuple, params: dict[str, Any], note: str) -> None:
        generation, method = self._generation, self.method
        self.busy = (
            f"Selecting with {METHOD_NAMES[method]} on {self.n_total:,} sequences… "
            "the views show the new coreset when it is ready."
        )
        job = _SELECT_POOL.submit(self._compute, method, self.score, params)

        def finish() -> None:
            error = job.exception()
            if error is None:
                self._remember(key, job.result())
            if generation != self._generation:  # a newer change came first
                return
            with self._batch():
                if error is not None:
                    self._refuse(error, note)
                else:
                    self._apply(job.result(), note)

        def done(_: Future) -> None:
            # the page may have closed meanwhile: then there is nothing to show it on
            with contextlib.suppress(Exception):
                self._schedule(finish)

        job.add_done_callback(done)

    def _refuse(self, error: BaseException, note: str) -> None:
        if not isinstance(error, ValueError | BiocoresetError):
            error = BiocoresetError(f"{METHOD_NAMES.get(self.method, self.method)} failed: {error}")
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.param.update(error=in_control_terms(text), note=note, busy="")

    def _apply(self, selection: Selection, note: str) -> None:
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
        if selection.n == 0:
            empty = (
                f"The coreset is empty: {_label('pruning_rate')} {self.pruning_rate:.2f} keeps "
                f"round({1 - self.pruning_rate:.2f} × {self.n_total:,}) = 0 sequences."
            )
            note = f"{note} {empty}".strip()
        self.param.update(error="", note=note, busy="", revision=self.revision + 1)

    def _score_bins(self) -> ScoreBins:
        scale = self.score_scale
        if scale not in self._bins:
            log = scale == "log" and bool((self.scores > 0).any())
            self._bins[scale] = ScoreBins.fit(self.scores, bins=60, log=log)
        return self._bins[scale]

    @property
    def uses_strata(self) -> bool:
        """Whether the current selection was drawn from score strata (CCI)."""
        return self.selection.strata is not None

    @property
    def strata_edges(self) -> np.ndarray:
        """Inner boundaries of the current CCI strata (for the histogram; none for other methods)."""
        if not self.uses_strata:
            return np.empty(0)
        return self.strata_table["left"].to_numpy()[1:]

    def _summary(self) -> dict[str, Any]:
        table = self.strata_table
        summary: dict[str, Any] = {
            "pool": self.n_total,
            "coreset": self.selection.n,
            "kept_fraction": self.selection.n / self.n_total,
            "method": self.selection.method,
            "score": self.score,
            "strata": (int((table["selected"] > 0).sum()), int((table["available"] > 0).sum())),
            "uses_strata": self.uses_strata,
            "labels": {c: (cov.represented, cov.total) for c, cov in self.labels.items()},
        }
        if self.neighbours is not None and len(self.neighbours.distances):
            summary["nn_median"] = self.neighbours.median
            summary["nn_sampled"] = bool(self._nearest.sampled)
            summary["nn_metric"] = self.neighbours.metric
        return summary

    # ----------------------------------------------------------- map

    def hover_columns(self) -> tuple[str, ...]:
        """The columns a point's tooltip shows (none above :data:`RASTERIZE_ABOVE`: no tooltips)."""
        if self.n_total > RASTERIZE_ABOVE:
            return ()
        first_label = () if self.label_column is None else (self.label_column,)
        return ("id", "length", "self_influence", *first_label)

    def map_frame(self) -> pd.DataFrame | None:
        """The map's points: ``x``, ``y``, ``index``, ``status``, hover columns and, when
        the map is coloured by a label, ``colour`` (``None``: no map)."""
        return self._with_status(self._map_base, colour=True)

    def length_frame(self) -> pd.DataFrame | None:
        """The score-vs-length points: ``x`` length, ``y`` self-influence, as :meth:`map_frame`
        (``None`` when the run records no lengths)."""
        return self._with_status(self._length_base, colour=False)

    def _with_status(self, base: pd.DataFrame | None, *, colour: bool) -> pd.DataFrame | None:
        if base is None:
            return None
        frame = base.copy(deep=False)
        frame["status"] = pd.Categorical.from_codes(
            self.selected.astype(np.int8), categories=["pruned", "coreset"]
        )
        if colour and self.map_colour != MAP_STATUS:
            frame["colour"] = self.colour_groups(self.map_colour)
        return frame

    def colour_groups(self, column: str) -> pd.Categorical:
        """A label column as the map colours it: its commonest values, "other", "(none)"."""
        if column not in self._colour_groups:
            self._colour_groups[column] = label_groups(self.frame[column])
        return self._colour_groups[column]

    def _init_length(self) -> pd.DataFrame | None:
        if "length" not in self.frame.columns:
            return None
        points = pd.DataFrame(
            {
                "index": self.frame["index"].to_numpy(),
                "x": self.frame["length"].to_numpy(np.float64),
                "y": self.scores,
            }
        )
        return map_frame(points, self.frame, None, hover=self.hover_columns())

    # ----------------------------------------------------------- table

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

    # ------------------------------------------------------------ run info

    def curves(self) -> pd.DataFrame | None:
        """The run's downstream learning curves, or ``None``."""
        return None if self.run_dir is None else load_run_curves(str(self.run_dir))

    def run_title(self) -> str:
        """A short description of the run as HTML (names escaped), for headers."""
        name = self.run_dir.name if self.run_dir is not None else "in-memory scores"
        model = self.manifest.get("model")
        model = model.get("name") if isinstance(model, dict) else model
        text = f"<code>{html.escape(name)}</code>: {self.n_total:,} sequences"
        if model:
            text += f" scored by <code>{html.escape(str(model))}</code>"
        return text
