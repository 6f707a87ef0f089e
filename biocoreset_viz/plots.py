"""HoloViews figures of a coreset: pure functions of tables.

Each figure function takes small tables (or arrays) and returns a HoloViews
object styled for the Bokeh backend; nothing here reads files or keeps state, so
the same functions serve notebooks, the dashboard and tests. The tables come
from the library (:func:`~biocoreset_viz.coverage.stratum_coverage`,
:func:`~biocoreset_viz.coverage.label_coverage`,
:func:`~biocoreset_viz.coverage.embedding_coverage`) or from the helpers below
(:func:`histogram_counts`, :class:`ScoreBins`, :func:`map_frame`,
:func:`biocoreset_viz.evaluation.curves.summarize_curves`).

Figures:

* :func:`influence_histogram`: self-influence of the pool and of the coreset, with
  the hard-cutoff line and the strata boundaries (:func:`selection_histogram`
  draws it straight from a fitted selector or a Selection);
* :func:`selection_map` and :func:`score_length_plot` (point figures, from
  :mod:`biocoreset_viz.scatter`): the UMAP/PCA map and self-influence against
  length, coreset in colour over the pruned sequences in grey (or coloured by a
  label column); one tooltip at a time says kept or pruned; above
  :data:`RASTERIZE_ABOVE` points they are rasterized with datashader;
* :func:`stratum_coverage_plot`: available vs. selected sequences per stratum;
* :func:`redundancy_plot`: family/cluster sizes and how many of each are kept;
* :func:`neighbour_distance_plot`: distance of pruned sequences to the nearest
  selected one;
* :func:`learning_curves`: downstream metrics against training progress, mean
  and standard deviation over seeds.

Titles are cut to :data:`~biocoreset_viz.figure_style.TITLE_CHARS` characters, so
that they fit above a half-page figure at 1,280 pixels. Text from the data (ids,
labels) reaches Bokeh only as data values, which Bokeh renders as text (tooltips
and tick labels are escaped, never parsed as HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.evaluation.curves import summarize_curves
from biocoreset_viz.figure_style import (
    CURVE_COLORS,
    CUTOFF_COLOR,
    FIGURE_HEIGHT,
    HIGHLIGHT_COLOR,
    ON_CANVAS,
    PRUNED_COLOR,
    RASTERIZE_ABOVE,
    SELECTED_COLOR,
    STATUS_COLORS,
    STATUS_LABELS,
    STRATA_COLOR,
    TITLE_CHARS,
    fit_title,
    short,
)
from biocoreset_viz.figure_style import hv as _hv
from biocoreset_viz.figure_style import selected_indices as _selected_indices
from biocoreset_viz.scatter import (
    HOVER_COLUMNS,
    LENGTH_AXES,
    MAP_TOOLS,
    coreset_density,
    coreset_points,
    highlight_points,
    label_colours,
    label_groups,
    length_correlation,
    length_trend,
    log10_scores,
    map_frame,
    pool_points,
    rasterize_points,
    score_length_plot,
    selection_map,
    style_length,
    style_map,
    trend_curve,
    with_point_hover,
)

__all__ = [
    "CURVE_COLORS",
    "CUTOFF_COLOR",
    "FIGURE_HEIGHT",
    "HIGHLIGHT_COLOR",
    "HOVER_COLUMNS",
    "LENGTH_AXES",
    "MAP_TOOLS",
    "PRUNED_COLOR",
    "RASTERIZE_ABOVE",
    "SELECTED_COLOR",
    "STATUS_COLORS",
    "STATUS_LABELS",
    "STRATA_COLOR",
    "TITLE_CHARS",
    "ScoreBins",
    "coreset_density",
    "coreset_points",
    "fit_title",
    "highlight_points",
    "histogram_counts",
    "influence_histogram",
    "label_colours",
    "label_groups",
    "learning_curves",
    "length_correlation",
    "length_trend",
    "log10_scores",
    "map_frame",
    "neighbour_distance_plot",
    "pool_points",
    "rasterize_points",
    "redundancy_plot",
    "score_length_plot",
    "selection_histogram",
    "selection_map",
    "short",
    "stratum_coverage_plot",
    "style_length",
    "style_map",
    "trend_curve",
    "with_point_hover",
]

# the largest float64: histogram edges and marks are kept within it
LARGEST = float(np.finfo(np.float64).max)


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
        """Bins over the range of the scores (their positive range when ``log``).

        Raises:
            InputError: not a non-empty 1-D array of finite scores, or no positive
                score for a log axis.
            ConfigError: fewer than one bin.
        """
        values = np.asarray(scores, dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise InputError(f"scores must be a non-empty 1-D array, got shape {values.shape}")
        if not np.isfinite(values).all():
            raise InputError("scores contain NaN or infinite values")
        if bins < 1:
            raise ConfigError(f"bins must be >= 1, got {bins}")
        shown = values > 0 if log else np.ones(len(values), dtype=bool)
        if not shown.any():
            raise InputError("no positive score to show on a log axis")
        low, high = float(values[shown].min()), float(values[shown].max())
        if high <= low:  # all equal: one visible bar around the value
            high, low = _around(low, log=log)
        steps = np.linspace(0.0, 1.0, bins + 1)
        # (not low + t (high - low), which would overflow for scores near the float64 limits)
        linear = low * (1.0 - steps) + high * steps
        with np.errstate(over="ignore"):  # geometric edges next to the float64 limit
            edges = np.geomspace(low, high, bins + 1) if log else linear
        edges = np.clip(edges, low, high)
        edges[0], edges[-1] = low, high
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


def _around(value: float, *, log: bool) -> tuple[float, float]:
    """An interval around one value, for a histogram of equal scores: ``(high, low)``.

    Both ends stay finite, even for a value at the float64 limits.
    """
    if log:
        return (value * 1.01 if value < LARGEST / 1.01 else LARGEST), value / 1.01
    spread = max(abs(value) * 1e-3, 0.5)
    high = value + spread if value < LARGEST - spread else LARGEST
    low = value - spread if value > spread - LARGEST else -LARGEST
    return high, low


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


def _bar_chart(
    frame: pd.DataFrame,
    colors: dict[str, str],
    x: Any,
    y: Any,
    *,
    title: str,
    height: int,
    hover: tuple[Any, ...] = (),
    **options: Any,
) -> Any:
    """Bars of :func:`_bars` as one Rectangles element, coloured by kind, axes named by ``x``, ``y``.

    Args:
        frame: the bars (``x0, y0, x1, y1, kind, sequences`` and the ``hover`` columns).
        colors: kind -> colour.
        x, y: the dimensions of ``x0`` and ``y0``.
        title, height: figure title and height in pixels (the width follows the page).
        hover: more value dimensions shown on hover.
        **options: more HoloViews options (a log axis, ticks ...).
    """
    hv = _hv()
    vdims = [hv.Dimension("kind", label="what"), "sequences", *hover]
    return hv.Rectangles(frame, kdims=[x, y, "x1", "y1"], vdims=vdims).opts(
        **{
            "color": "kind",
            "cmap": colors,
            "line_color": None,
            "tools": ["hover"],
            "show_legend": True,
            "title": title,
            "responsive": True,
            "height": height,
            "legend_position": "top_right",
            "show_grid": True,
            "xlabel": x.label,
            "ylabel": y.label,
            **ON_CANVAS,
            **options,
        }
    )


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
        widths = np.array([w for _, _, w, _ in lines])
        half = widths * high - widths * low  # w (high - low), without overflow near the limits
        with np.errstate(over="ignore"):  # a line at the float64 limits: its edge is clipped
            left, right = (
                np.clip(back(x), -LARGEST, LARGEST) for x in (centre - half, centre + half)
            )
        marks = pd.DataFrame(
            {
                "x0": left,
                "y0": 0.0,
                "x1": right,
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
    return _bar_chart(bars, colors, score, count, title=fit_title(title), height=height, logx=log)


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
            raise InputError(
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


# -------------------------------------------------------------- coverage views


def stratum_coverage_plot(
    table: pd.DataFrame,
    *,
    selected_in_cutoff: int = 0,
    logy: bool = True,
    muted: str | None = None,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Available vs. selected sequences per score stratum.

    Args:
        table: one row per stratum with ``stratum``, ``available`` and ``selected``
            (``stratum_coverage(...).table`` or a CCI selection's ``strata``).
        selected_in_cutoff: coreset members above the hard cutoff (in the title).
        logy: logarithmic count axis (strata sizes span orders of magnitude).
        muted: the name of a method that does not use strata: the bars are drawn
            greyed, as CCI's strata shown for comparison.
        title: figure title.
        height: figure height in pixels.
    """
    hv = _hv()
    k = len(table)
    represented = int((table["selected"] > 0).sum())
    non_empty = int((table["available"] > 0).sum())
    if title is None:
        title = f"Strata: {represented} of {non_empty} represented"
        if muted:
            title = f"CCI strata (not used by {short(muted, 14)}): {represented} of {non_empty} hit"
        if selected_in_cutoff:
            title += f"; {selected_in_cutoff:,} above the cutoff"
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
    if muted:
        colors = {"available": "#E4E4E4", "selected": "#A9B8C6"}
    return _bar_chart(
        bars,
        colors,
        stratum,
        count,
        title=fit_title(title),
        height=height,
        logy=logy,
        framewise=True,
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
        title = f"{short(label)}: {represented:,} of {len(table):,} kept"
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
    return _bar_chart(
        bars[["x0", "y0", "x1", "y1", "kind", "sequences", "label"]],
        colors,
        size,
        group,
        title=fit_title(title),
        height=height,
        hover=(hv.Dimension("label", label=label),),
        yticks=ticks,
        legend_position="bottom_right",
        show_grid=False,
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
    who = "Pruned (sample)" if sampled else "Pruned"
    if len(values) == 0:
        counts, edges, median = np.zeros(bins), np.linspace(0.0, 1.0, bins + 1), None
    else:
        high = float(values.max())
        counts, edges = np.histogram(values, bins=bins, range=(0.0, high if high > 0 else 1.0))
        median = float(np.median(values))
    if title is None:
        title = f"{who} → nearest coreset member"
        title += " (nothing pruned)" if median is None else f": median {median:.3g}"
    return hv.Histogram((edges, counts), kdims=distance, vdims=count).opts(
        color=PRUNED_COLOR,
        line_color="white",
        title=fit_title(title),
        responsive=True,
        height=height,
        framewise=True,
        show_grid=True,
        tools=["hover"],
        **ON_CANVAS,
    )


# ------------------------------------------------------------- learning curves


def learning_curves(
    curves: pd.DataFrame, *, x: str = "tokens_seen", height: int = FIGURE_HEIGHT
) -> Any:
    """Downstream learning curves, one panel per task and metric, a line per subset.

    Lines are the mean over seeds, bands one standard deviation.

    Args:
        curves: a ``curves.parquet`` table (summarised with
            :func:`biocoreset_viz.evaluation.curves.summarize_curves`).
        x: ``tokens_seen`` or ``step``.
        height: height of each panel in pixels.
    """
    if x not in ("tokens_seen", "step"):
        raise ConfigError(f"x must be 'tokens_seen' or 'step', got {x!r}")
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
                title=fit_title(f"{short(task)}: {short(metric)} (mean ± sd over seeds)"),
                responsive=True,
                height=height,
                legend_position="bottom_right",
                show_grid=True,
                **ON_CANVAS,
            )
        )
    return hv.Layout(panels).cols(2).opts(shared_axes=False)
