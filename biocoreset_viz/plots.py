"""HoloViews figures of a coreset: pure functions of tables.

Each figure function takes small tables (or arrays) and returns a HoloViews
object styled for the Bokeh backend; nothing here reads files or keeps state, so
the same functions serve notebooks, the dashboard and tests. The tables come
from the library (:func:`~biocoreset_viz.coverage.stratum_coverage`,
:func:`~biocoreset_viz.coverage.label_coverage`,
:func:`~biocoreset_viz.coverage.embedding_coverage`) or from the helpers below
(:func:`histogram_counts`, :class:`ScoreBins`, :func:`map_frame`,
:func:`biocoreset_viz.curves.summarize_curves`).

Figures:

* :func:`influence_histogram`: self-influence of the pool and of the coreset, with
  the hard-cutoff line and the strata boundaries (:func:`selection_histogram`
  draws it straight from a fitted selector or a Selection);
* :func:`selection_map`: UMAP/PCA map, coreset in colour, pruned sequences in grey
  (still visible); hover shows id, length, score and family; above
  :data:`RASTERIZE_ABOVE` points the map is rasterized with datashader;
* :func:`stratum_coverage_plot`: available vs. selected sequences per stratum;
* :func:`redundancy_plot`: family/cluster sizes and how many of each are kept;
* :func:`neighbour_distance_plot`: distance of pruned sequences to the nearest
  selected one;
* :func:`learning_curves`: downstream metrics against training progress, mean
  and standard deviation over seeds.

Text from the data (ids, labels) reaches Bokeh only as data values, which Bokeh
renders as text (tooltips and tick labels are escaped, never parsed as HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.curves import summarize_curves

# Colour-blind-safe palette (Okabe-Ito)
SELECTED_COLOR = "#0072B2"
PRUNED_COLOR = "#BBBBBB"
CUTOFF_COLOR = "#D55E00"
STRATA_COLOR = "#333333"
HIGHLIGHT_COLOR = "#E69F00"
CURVE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
STATUS_COLORS = {"coreset": SELECTED_COLOR, "pruned": PRUNED_COLOR}
STATUS_LABELS = ("pruned", "coreset")  # category codes 0 and 1

# Maps with more points than this are rasterized with datashader.
RASTERIZE_ABOVE = 50_000
FIGURE_HEIGHT = 320
HOVER_COLUMNS = ("id", "length", "self_influence", "family")


def _hv() -> Any:
    """HoloViews with the Bokeh options registered (imported lazily: it takes a second)."""
    import holoviews as hv
    import holoviews.plotting.bokeh  # noqa: F401 (registers the Bokeh backend's options)

    return hv


def _selected_indices(selected: Any, n_total: int) -> np.ndarray:
    """Indices from indices, a boolean mask of length N, or a Selection."""
    if selected is None:
        return np.empty(0, dtype=np.int64)
    selected = getattr(selected, "indices", selected)
    array = np.asarray(selected)
    if array.dtype == bool:
        if len(array) != n_total:
            raise ValueError(f"mask has {len(array)} entries for {n_total} scores")
        return np.flatnonzero(array)
    return array.astype(np.int64, copy=False)


# ----------------------------------------------------------------- histogram


@dataclass
class ScoreBins:
    """Histogram bins of a score pool, fitted once, counted for any selection fast.

    Attributes:
        edges: ``bins + 1`` increasing edges (geometric when ``log``).
        codes: the bin of every score (``-1``: not shown, a score <= 0 on a log axis).
        pool: sequences per bin.
        log: whether the bins are logarithmic.
    """

    edges: np.ndarray
    codes: np.ndarray
    pool: np.ndarray
    log: bool = False

    @classmethod
    def fit(cls, scores: Any, *, bins: int = 60, log: bool = False) -> ScoreBins:
        """Bins over the range of the scores (their positive range when ``log``)."""
        values = np.asarray(scores, dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(f"scores must be a non-empty 1-D array, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError("scores contain NaN or infinite values")
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        shown = values > 0 if log else np.ones(len(values), dtype=bool)
        if not shown.any():
            raise ValueError("no positive score to show on a log axis")
        low, high = float(values[shown].min()), float(values[shown].max())
        if high <= low:  # all equal: one visible bar around the value
            high = low * 1.01 + 1e-12 if log else low + 0.5
            low = low / 1.01 if log else low - 0.5
        edges = np.geomspace(low, high, bins + 1) if log else np.linspace(low, high, bins + 1)
        codes = np.searchsorted(edges, values, side="right") - 1
        codes = np.clip(codes, 0, bins - 1)  # the maximum belongs to the last bin
        codes[~shown] = -1
        code_type = np.int16 if bins < np.iinfo(np.int16).max else np.int32
        codes = codes.astype(code_type)
        pool = np.bincount(codes[shown].astype(np.int64), minlength=bins)
        return cls(edges, codes, pool, log)

    def table(self, selected: Any = None) -> pd.DataFrame:
        """``left``, ``right``, ``pool`` and ``selected`` counts per bin.

        Args:
            selected: selected indices, a boolean mask, a Selection, or ``None``.
        """
        bins = len(self.pool)
        picked = self.codes[_selected_indices(selected, len(self.codes))].astype(np.int64)
        counts = np.bincount(picked[picked >= 0], minlength=bins)
        return pd.DataFrame(
            {
                "left": self.edges[:-1],
                "right": self.edges[1:],
                "pool": self.pool,
                "selected": counts,
            }
        )


def histogram_counts(
    scores: Any, selected: Any = None, *, bins: int = 60, log: bool = False
) -> pd.DataFrame:
    """Histogram table of the pool's scores and of the selected ones (see :class:`ScoreBins`)."""
    return ScoreBins.fit(scores, bins=bins, log=log).table(selected)


def _bars(left: Any, right: Any, heights: dict[str, Any], *, bottom: float = 0.0) -> pd.DataFrame:
    """Rectangles ``x0, y0, x1, y1, kind, sequences``: one bar per bin and kind, kinds in order.

    One Rectangles element draws every kind (one Bokeh glyph), which keeps a
    live update cheap; NaN heights are not drawn.
    """
    left = np.asarray(left, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    parts = []
    for kind, values in heights.items():
        values = np.asarray(values, dtype=np.float64)
        parts.append(
            pd.DataFrame(
                {
                    "x0": left,
                    "y0": bottom,
                    "x1": right,
                    "y1": values,
                    "kind": kind,
                    "sequences": np.nan_to_num(values),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _rectangles(frame: pd.DataFrame, colors: dict[str, str], x: Any, y: Any) -> Any:
    hv = _hv()
    return hv.Rectangles(
        frame, kdims=[x, y, "x1", "y1"], vdims=[hv.Dimension("kind", label="what"), "sequences"]
    ).opts(color="kind", cmap=colors, line_color=None, tools=["hover"], show_legend=True)


def influence_histogram(
    counts: pd.DataFrame,
    *,
    log: bool = False,
    cutoff: float | None = None,
    strata_edges: Any = None,
    title: str = "Self-influence: pool and coreset",
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Histogram of the pool (grey) with the coreset in front (colour).

    Args:
        counts: a :func:`histogram_counts` table.
        log: logarithmic score axis (use it with log bins).
        cutoff: the CCI hard cutoff: the lowest removed score (a full-height line).
        strata_edges: inner strata boundaries (short ticks on the baseline).
        title: figure title.
        height: figure height in pixels (the width follows the page).
    """
    hv = _hv()
    score = hv.Dimension("x0", label="self-influence score")
    count = hv.Dimension("y0", label="sequences")
    bars = _bars(
        counts["left"], counts["right"], {"pool": counts["pool"], "coreset": counts["selected"]}
    )
    top = float(counts["pool"].max()) * 1.08 or 1.0
    # Lines drawn as thin bars of the same element (one glyph keeps a live update cheap):
    # the strata boundaries as a ruler of short ticks on the baseline, the cutoff full height.
    lines = []
    if strata_edges is not None and len(strata_edges):
        edges = np.asarray(strata_edges, dtype=np.float64)
        lines += [(float(e), top * 0.06, 0.0012, "strata boundaries") for e in edges]
    if cutoff is not None:
        lines.append((float(cutoff), top, 0.0025, "hard cutoff (β)"))
    if log:
        lines = [line for line in lines if line[0] > 0]
    if lines:
        # half-widths are fractions of the axis span, in axis units (log10 on a log axis)
        forward, back = (np.log10, lambda u: 10.0**u) if log else (np.asarray, np.asarray)
        low, high = forward(counts["left"].iloc[0]), forward(counts["right"].iloc[-1])
        centre = forward(np.array([x for x, _, _, _ in lines]))
        half = np.array([w for _, _, w, _ in lines]) * (high - low)
        marks = pd.DataFrame(
            {
                "x0": back(centre - half),
                "y0": 0.0,
                "x1": back(centre + half),
                "y1": [height for _, height, _, _ in lines],
                "kind": [kind for _, _, _, kind in lines],
                "sequences": np.nan,
            }
        )
        bars = pd.concat([bars, marks], ignore_index=True)
    colors = {
        "pool": PRUNED_COLOR,
        "coreset": SELECTED_COLOR,
        "strata boundaries": STRATA_COLOR,
        "hard cutoff (β)": CUTOFF_COLOR,
    }
    return _rectangles(bars, colors, score, count).opts(
        title=title,
        logx=log,
        responsive=True,
        height=height,
        legend_position="top_right",
        show_grid=True,
        xlabel=score.label,
        ylabel=count.label,
    )


def selection_histogram(
    scores: Any,
    selected: Any,
    *,
    log: bool = False,
    bins: int | ScoreBins = 60,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """:func:`influence_histogram` of one selection, its cutoff and strata read from it.

    One call for the common case: the pool's scores and a fitted selector (or a
    :class:`~biocoreset_viz.selection.Selection`). For CCI the hard-cutoff line and
    the strata boundaries are drawn from the selector's ``cutoff_value_`` and
    ``strata_`` (a Selection's ``summary["cutoff_value"]`` and ``strata``); other
    methods draw the pool and the coreset only.

    Args:
        scores: self-influence of the pool, ``(N,)``.
        selected: a fitted selector, a Selection, selected indices or a boolean mask.
        log: logarithmic score axis and bins.
        bins: number of bins, or a fitted :class:`ScoreBins` (shared by several
            figures so that their bars line up).
        title: figure title (default: the method and the coreset size).
        height: figure height in pixels.
    """
    if isinstance(bins, ScoreBins):
        score_bins = bins
        log = score_bins.log
        if len(np.asarray(scores)) != len(score_bins.codes):
            raise ValueError(
                f"the bins were fitted on {len(score_bins.codes)} scores, not {len(np.asarray(scores))}"
            )
    else:
        score_bins = ScoreBins.fit(scores, bins=bins, log=log)
    if hasattr(selected, "indices_"):  # a fitted selector
        indices = selected.indices_
        method = getattr(selected, "method", type(selected).__name__)
        strata = getattr(selected, "strata_", None)
        cutoff = getattr(selected, "cutoff_value_", None)
    elif hasattr(selected, "indices") and hasattr(selected, "summary"):  # a Selection
        indices, method, strata = selected.indices, selected.method, selected.strata
        cutoff = selected.summary.get("cutoff_value")
    else:
        indices = _selected_indices(selected, len(score_bins.codes))
        method, strata, cutoff = None, None, None
    indices = _selected_indices(indices, len(score_bins.codes))
    if title is None:
        name = {"cci": "CCI", "topi": "Top-I"}.get(str(method), method)
        who = f"{name} coreset" if name else "Coreset"
        title = f"{who}: {len(indices):,} of {len(score_bins.codes):,} sequences"
    edges = None if strata is None else strata["left"].to_numpy()[1:]
    return influence_histogram(
        score_bins.table(indices),
        log=log,
        cutoff=cutoff,
        strata_edges=edges,
        title=title,
        height=height,
    )


# ----------------------------------------------------------------------- map


def map_frame(
    projection: pd.DataFrame,
    scores: pd.DataFrame,
    selected: Any,
    *,
    hover: tuple[str, ...] = HOVER_COLUMNS,
) -> pd.DataFrame:
    """One row per sequence: ``x``, ``y``, ``status`` (``pruned``/``coreset``) and hover columns.

    Args:
        projection: ``index``, ``x``, ``y`` (from :mod:`biocoreset_viz.projection`).
        scores: the score frame (``index``, ``id``, ``length``, ``self_influence``,
            labels), one row per sequence.
        selected: selected indices (positions in ``scores``), a mask or a Selection.
        hover: columns of ``scores`` carried along when present.
    """
    if len(projection) != len(scores):
        raise ValueError(f"projection has {len(projection)} rows for {len(scores)} sequences")
    if not np.array_equal(projection["index"].to_numpy(), scores["index"].to_numpy()):
        projection = projection.set_index("index").loc[scores["index"]].reset_index()
    frame = pd.DataFrame(
        {"x": projection["x"].to_numpy(), "y": projection["y"].to_numpy()}, copy=False
    )
    for column in hover:
        if column in scores.columns:
            frame[column] = scores[column].to_numpy()
    mask = np.zeros(len(frame), dtype=np.int8)
    mask[_selected_indices(selected, len(frame))] = 1
    frame["status"] = pd.Categorical.from_codes(mask, categories=list(STATUS_LABELS))
    return frame


def _map_dims(frame: pd.DataFrame, projection: str) -> tuple[list[Any], list[Any]]:
    hv = _hv()
    labels = {"self_influence": "self-influence", "id": "id", "length": "length"}
    kdims = [hv.Dimension("x", label=f"{projection} 1"), hv.Dimension("y", label=f"{projection} 2")]
    vdims = [
        hv.Dimension(c, label=labels.get(c, c))
        for c in frame.columns
        if c not in ("x", "y", "status")
    ]
    return kdims, vdims


def pool_points(frame: pd.DataFrame, *, projection: str = "UMAP") -> Any:
    """Every sequence of a :func:`map_frame` as grey points (the layer under the coreset)."""
    hv = _hv()
    kdims, vdims = _map_dims(frame, projection)
    columns = ["x", "y", *[d.name for d in vdims]]
    return hv.Points(frame[columns], kdims=kdims, vdims=vdims, label="pruned").opts(
        color=PRUNED_COLOR, size=3, alpha=0.6, line_color=None
    )


def coreset_points(frame: pd.DataFrame, *, projection: str = "UMAP") -> Any:
    """The coreset's rows of a :func:`map_frame` as coloured points."""
    hv = _hv()
    kdims, vdims = _map_dims(frame, projection)
    columns = ["x", "y", *[d.name for d in vdims]]
    kept = frame["status"].cat.codes.to_numpy() == STATUS_LABELS.index("coreset")
    return hv.Points(frame.loc[kept, columns], kdims=kdims, vdims=vdims, label="coreset").opts(
        color=SELECTED_COLOR, size=4, alpha=0.9, line_color=None
    )


def highlight_points(rows: pd.DataFrame, *, projection: str = "UMAP") -> Any:
    """Orange rings around highlighted sequences (rows of a :func:`map_frame`)."""
    hv = _hv()
    kdims, vdims = _map_dims(rows, projection)
    columns = ["x", "y", *[d.name for d in vdims]]
    return hv.Points(rows[columns], kdims=kdims, vdims=vdims).opts(
        fill_color=None, line_color=HIGHLIGHT_COLOR, line_width=2, size=10
    )


def rasterize_points(points: Any, *, color: str) -> Any:
    """Density image of points (an element or a DynamicMap) in shades of one colour.

    Aggregated by datashader on the server for the current zoom; colours are
    applied in the browser (histogram-equalised), empty pixels are transparent.
    """
    from holoviews.operation.datashader import rasterize

    light = {SELECTED_COLOR: "#9ecae1", PRUNED_COLOR: "#e6e6e6"}.get(color, "#ffffff")
    return rasterize(points).opts(
        cmap=[light, color],
        cnorm="eq_hist",
        clipping_colors={"min": "transparent", "NaN": "transparent"},
        colorbar=False,
    )


def style_map(figure: Any, *, title: str, height: int = 420, legend: bool = True) -> Any:
    """Size, title and selection tools of a map overlay."""
    return figure.opts(
        title=title,
        responsive=True,
        height=height,
        legend_position="top_right",
        show_legend=legend,
    )


MAP_TOOLS = ("box_select", "lasso_select", "wheel_zoom", "pan", "reset")


def selection_map(
    frame: pd.DataFrame,
    *,
    rasterize: bool | None = None,
    highlight: pd.DataFrame | None = None,
    projection: str = "UMAP",
    title: str | None = None,
    height: int = 420,
) -> Any:
    """The map of coreset (colour) over the whole pool (grey: pruned sequences stay visible).

    Args:
        frame: a :func:`map_frame` table.
        rasterize: datashader rasterizing; default when the map has more than
            :data:`RASTERIZE_ABOVE` points (no per-point hover then).
        highlight: rows of ``frame`` to ring in orange (e.g. uploaded ids).
        projection: axis label prefix (``"UMAP"`` or ``"PCA"``).
        title: figure title.
        height: figure height in pixels.
    """
    n_kept = int((frame["status"] == "coreset").sum())
    rasterize = len(frame) > RASTERIZE_ABOVE if rasterize is None else rasterize
    pool = pool_points(frame, projection=projection)
    kept = coreset_points(frame, projection=projection)
    if rasterize:
        pool = rasterize_points(pool, color=PRUNED_COLOR)
        kept = rasterize_points(kept, color=SELECTED_COLOR)
    else:
        pool = pool.opts(tools=["hover", *MAP_TOOLS[:2]])
        kept = kept.opts(tools=["hover", *MAP_TOOLS[:2]])
    figure = pool * kept
    if highlight is not None and len(highlight):
        figure = figure * highlight_points(highlight, projection=projection)
    if title is None:
        title = f"{projection} map: {n_kept:,} coreset (blue) among {len(frame):,} sequences (grey)"
    return style_map(figure, title=title, height=height, legend=not rasterize)


# -------------------------------------------------------------- coverage views


def stratum_coverage_plot(
    table: pd.DataFrame,
    *,
    selected_in_cutoff: int = 0,
    logy: bool = True,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Available vs. selected sequences per score stratum.

    Args:
        table: one row per stratum with ``stratum``, ``available`` and ``selected``
            (``stratum_coverage(...).table`` or a CCI selection's ``strata``).
        selected_in_cutoff: coreset members above the hard cutoff (in the title).
        logy: logarithmic count axis (strata sizes span orders of magnitude).
        title: figure title.
        height: figure height in pixels.
    """
    hv = _hv()
    k = len(table)
    represented = int((table["selected"] > 0).sum())
    non_empty = int((table["available"] > 0).sum())
    if title is None:
        title = f"Stratum coverage: {represented} of {non_empty} non-empty strata represented"
        if selected_in_cutoff:
            title += f"; {selected_in_cutoff:,} kept above the cutoff"
    available = table["available"].to_numpy(np.float64)
    selected = table["selected"].to_numpy(np.float64)
    bottom = 0.0
    if logy:  # bars start below 1 on a log axis; empty strata draw nothing
        bottom = 0.7
        available = np.where(available > 0, available, np.nan)
        selected = np.where(selected > 0, selected, np.nan)
    position = np.arange(k, dtype=np.float64)
    bars = _bars(
        position - 0.4,
        position + 0.4,
        {"available": available, "selected": selected},
        bottom=bottom,
    )
    stratum = hv.Dimension("x0", label="score stratum (low → high self-influence)")
    count = hv.Dimension("y0", label="sequences")
    colors = {"available": PRUNED_COLOR, "selected": SELECTED_COLOR}
    return _rectangles(bars, colors, stratum, count).opts(
        title=title,
        logy=logy,
        responsive=True,
        height=height,
        legend_position="top_right",
        framewise=True,
        show_grid=True,
        xlabel=stratum.label,
        ylabel=count.label,
    )


def redundancy_plot(
    table: pd.DataFrame,
    *,
    label: str = "family",
    top: int = 20,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Sizes of the largest families (clusters), and how many of each the coreset keeps.

    Args:
        table: ``label``, ``available``, ``selected`` per label value, largest first
            (``label_coverage(...).table``).
        label: what the labels are (axis title).
        top: show the ``top`` largest.
        title: figure title.
        height: figure height in pixels.
    """
    hv = _hv()
    represented = int((table["selected"] > 0).sum())
    if title is None:
        title = f"Redundancy: {represented:,} of {len(table):,} {label} values kept"
        if len(table) > top:
            title += f" (largest {top} shown)"
    shown = table.head(top)
    rows = np.arange(len(shown), dtype=np.float64)[::-1]  # largest at the top
    bars = _bars(
        rows - 0.4,
        rows + 0.4,
        {"in pool": shown["available"], "kept": shown["selected"]},
    )
    # horizontal bars: the bins run along y, the counts along x
    bars = bars.rename(columns={"x0": "y0", "x1": "y1", "y0": "x0", "y1": "x1"})
    bars["label"] = np.tile(shown["label"].astype(str).to_numpy(), 2)
    names = [str(v) for v in shown["label"]]
    ticks = [
        (float(r), (n if len(n) <= 24 else n[:23] + "…")) for r, n in zip(rows, names, strict=True)
    ]
    size = hv.Dimension("x0", label="sequences")
    group = hv.Dimension("y0", label=label)
    colors = {"in pool": PRUNED_COLOR, "kept": SELECTED_COLOR}
    figure = hv.Rectangles(
        bars[["x0", "y0", "x1", "y1", "kind", "sequences", "label"]],
        kdims=[size, group, "x1", "y1"],
        vdims=[hv.Dimension("kind", label="what"), "sequences", hv.Dimension("label", label=label)],
    )
    return figure.opts(
        color="kind",
        cmap=colors,
        line_color=None,
        tools=["hover"],
        show_legend=True,
        yticks=ticks,
        title=title,
        responsive=True,
        height=height,
        legend_position="bottom_right",
        xlabel=size.label,
        ylabel=group.label,
    )


def neighbour_distance_plot(
    distances: Any,
    *,
    metric: str = "euclidean",
    bins: int = 40,
    sampled: bool = False,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Histogram of the distance from pruned sequences to their nearest coreset member.

    Args:
        distances: one distance per pruned sequence (``embedding_coverage(...).distances``).
        metric: the distance's name (axis label).
        bins: histogram bins.
        sampled: the distances are for a sample of the pruned sequences (title).
        title: figure title.
        height: figure height in pixels.
    """
    hv = _hv()
    values = np.asarray(distances, dtype=np.float64)
    distance = hv.Dimension("distance", label=f"{metric} distance to the nearest coreset member")
    count = hv.Dimension("sequences", label="pruned sequences")
    who = "Sampled pruned" if sampled else "Pruned"
    if len(values) == 0:
        counts, edges, median = np.zeros(bins), np.linspace(0.0, 1.0, bins + 1), None
    else:
        high = float(values.max())
        counts, edges = np.histogram(values, bins=bins, range=(0.0, high if high > 0 else 1.0))
        median = float(np.median(values))
    if title is None:
        title = f"{who} sequences → nearest coreset member"
        title += " (nothing pruned)" if median is None else f": median {median:.3g}"
    return hv.Histogram((edges, counts), kdims=distance, vdims=count).opts(
        color=PRUNED_COLOR,
        line_color="white",
        title=title,
        responsive=True,
        height=height,
        framewise=True,
        show_grid=True,
        tools=["hover"],
    )


# ------------------------------------------------------------- learning curves


def learning_curves(
    curves: pd.DataFrame, *, x: str = "tokens_seen", height: int = FIGURE_HEIGHT
) -> Any:
    """Downstream learning curves, one panel per task and metric, a line per subset.

    Lines are the mean over seeds, bands one standard deviation.

    Args:
        curves: a ``curves.parquet`` table (summarised with
            :func:`biocoreset_viz.curves.summarize_curves`).
        x: ``tokens_seen`` or ``step``.
        height: height of each panel in pixels.
    """
    if x not in ("tokens_seen", "step"):
        raise ValueError(f"x must be 'tokens_seen' or 'step', got {x!r}")
    hv = _hv()
    summary = summarize_curves(curves).rename(columns={x: "x"})
    subsets = sorted(summary["subset"].astype(str).unique())
    colors = {s: CURVE_COLORS[i % len(CURVE_COLORS)] for i, s in enumerate(subsets)}
    x_dim = hv.Dimension("x", label="tokens seen" if x == "tokens_seen" else "training step")
    panels = []
    for (task, metric), part in summary.groupby(["task", "metric"], sort=True):
        y_dim = hv.Dimension("mean", label=str(metric))
        layers = []
        for subset, rows in part.groupby("subset", sort=True):
            color = colors[str(subset)]
            rows = rows.sort_values("x")
            band = hv.Spread(
                (rows["x"], rows["mean"], rows["sd"]), kdims=x_dim, vdims=[y_dim, "sd"]
            ).opts(color=color, alpha=0.2, line_color=None)
            line = hv.Curve((rows["x"], rows["mean"]), kdims=x_dim, vdims=y_dim, label=str(subset))
            layers += [band, line.opts(color=color, line_width=2, tools=["hover"])]
        panels.append(
            hv.Overlay(layers).opts(
                title=f"{task}: {metric} (mean ± sd over seeds)",
                responsive=True,
                height=height,
                legend_position="bottom_right",
                show_grid=True,
            )
        )
    return hv.Layout(panels).cols(2).opts(shared_axes=False)
