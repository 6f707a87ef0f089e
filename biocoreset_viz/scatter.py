"""Point figures of a coreset: the UMAP/PCA map and self-influence against length.

Pure functions of tables, like :mod:`biocoreset_viz.plots` (which re-exports
them). Every figure draws the whole pool underneath (grey, or coloured by a
label column) and the coreset on top, so pruned sequences stay visible:

* :func:`map_frame`: one row per sequence, the points of either figure;
* :func:`selection_map`: the map; :func:`score_length_plot`: score vs length,
  with the pool's median score per length bin and its Spearman correlation
  (the length effect is the first thing to check in self-influence);
* the layers (:func:`pool_points`, :func:`coreset_points`, :func:`highlight_points`,
  :func:`rasterize_points`) that the dashboard updates separately, and
  :func:`with_point_hover`: one tooltip at a time, saying whether the point is
  kept or pruned, and none while a box or lasso is drawn.

Above :data:`~biocoreset_viz.figure_style.RASTERIZE_ABOVE` points the layers are
rasterized with datashader (no tooltips then). Text from the data (ids, labels)
reaches Bokeh only as values that the tooltip shows, which Bokeh renders as text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import InputError
from biocoreset_viz.figure_style import (
    FIGURE_HEIGHT,
    HIGHLIGHT_COLOR,
    LABEL_COLORS,
    NO_LABEL_COLOR,
    ON_CANVAS,
    OTHER_COLOR,
    PRUNED_COLOR,
    RASTERIZE_ABOVE,
    SELECTED_COLOR,
    STATUS_LABELS,
    fit_title,
    hv,
    selected_indices,
)

HOVER_COLUMNS = ("id", "length", "self_influence", "family")
MAP_TOOLS = ("box_select", "lasso_select", "wheel_zoom", "pan", "reset")
OTHER = "other"
NO_LABEL = "(none)"
# The tooltip's field of a point's index: "@{index}{status}" says whether the point is
# in the coreset layer's data; "@{index}{id}" (any text column) looks its value up
_INDEX_JS = """
if (format !== "status") {
  const values = texts == null ? null : texts.data[format];
  const text = values == null ? null : values[Number(value)];
  return text == null ? missing : text;
}
const kept = coreset.data["index"];
if (coreset.__bc_kept !== kept) {
  coreset.__bc_kept = kept;
  coreset.__bc_set = new Set(Array.from(kept, Number));
}
return coreset.__bc_set.has(Number(value)) ? "kept (coreset)" : "pruned";
"""
_LABELS = {"self_influence": "self-influence", "id": "id", "length": "length"}


def map_frame(
    projection: pd.DataFrame,
    scores: pd.DataFrame,
    selected: Any,
    *,
    hover: tuple[str, ...] = HOVER_COLUMNS,
) -> pd.DataFrame:
    """One row per sequence: ``x``, ``y``, ``index`` (its position), ``status``, hover columns.

    Args:
        projection: ``index``, ``x``, ``y`` (from :mod:`biocoreset_viz.projection`).
        scores: the score frame (``index``, ``id``, ``length``, ``self_influence``,
            labels), one row per sequence.
        selected: selected indices (positions in ``scores``), a mask or a Selection.
        hover: columns of ``scores`` carried along when present.
    """
    if len(projection) != len(scores):
        raise InputError(f"projection has {len(projection)} rows for {len(scores)} sequences")
    if not np.array_equal(projection["index"].to_numpy(), scores["index"].to_numpy()):
        projection = projection.set_index("index").loc[scores["index"]].reset_index()
    frame = pd.DataFrame(
        {"x": projection["x"].to_numpy(), "y": projection["y"].to_numpy()}, copy=False
    )
    frame["index"] = np.arange(len(frame), dtype=np.int32)
    for column in hover:
        if column in scores.columns:
            frame[column] = scores[column].to_numpy()
    mask = np.zeros(len(frame), dtype=np.int8)
    mask[selected_indices(selected, len(frame))] = 1
    frame["status"] = pd.Categorical.from_codes(mask, categories=list(STATUS_LABELS))
    return frame


def label_groups(values: Any, *, top: int = len(LABEL_COLORS)) -> pd.Categorical:
    """Label values as a map colours them: the ``top`` commonest, then ``other`` and ``(none)``.

    Missing and blank labels are ``(none)``; ties in count are ordered by name.
    """
    series = pd.Series(values, dtype=object).reset_index(drop=True)
    text = series.map(lambda v: None if v is None or v != v else str(v).strip() or None)
    missing = text.isna().to_numpy()
    counts = text[~missing].value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    names = [name for name, _ in ranked[:top]]
    groups = np.where(text.isin(names).to_numpy(), text.to_numpy(), OTHER)
    groups[missing] = NO_LABEL
    categories = names + [c for c in (OTHER, NO_LABEL) if (groups == c).any()]
    return pd.Categorical(groups, categories=categories)


def label_colours(categories: Any) -> dict[str, str]:
    """Colour of each :func:`label_groups` category."""
    colours = {}
    for position, category in enumerate(categories):
        if category == OTHER:
            colours[category] = OTHER_COLOR
        elif category == NO_LABEL:
            colours[category] = NO_LABEL_COLOR
        else:
            colours[category] = LABEL_COLORS[position % len(LABEL_COLORS)]
    return colours


def _points(frame: pd.DataFrame, axes: tuple[str, str], rows: Any = None, **params: Any) -> Any:
    """Points of a :func:`map_frame` (its ``rows`` when given), axes named ``axes``.

    The layers carry numbers only (and the ``colour`` they are coloured by): at each
    update HoloViews scans every text value of a layer in Python (0.13 s per control
    change at 20,000 points), so the tooltip looks ids and labels up by the point's
    ``index`` instead (:func:`with_point_hover`).
    """
    holoviews = hv()
    kdims = [holoviews.Dimension("x", label=axes[0]), holoviews.Dimension("y", label=axes[1])]
    vdims = [
        holoviews.Dimension(c, label=_LABELS.get(c, c))
        for c in frame.columns
        if c not in ("x", "y", "status") and (c == "colour" or not _is_text(frame[c]))
    ]
    columns = ["x", "y", *[d.name for d in vdims]]
    data = frame[columns] if rows is None else frame.loc[rows, columns]
    return holoviews.Points(data, kdims=kdims, vdims=vdims, **params)


def _is_text(values: pd.Series) -> bool:
    return values.dtype.kind not in "biuf"


def _map_axes(projection: str) -> tuple[str, str]:
    return (f"{projection} 1", f"{projection} 2")


def _colour_options(frame: pd.DataFrame, fallback: str) -> dict[str, Any]:
    if "colour" not in frame.columns:
        return {"color": fallback}
    return {"color": "colour", "cmap": label_colours(frame["colour"].cat.categories)}


def pool_points(frame: pd.DataFrame, *, projection: str = "UMAP", axes: Any = None) -> Any:
    """Every sequence of a :func:`map_frame` (the layer under the coreset): grey, or
    faint label colours when the frame has a ``colour`` column."""
    faint = "colour" in frame.columns
    return _points(frame, axes or _map_axes(projection), label="pruned").opts(
        size=3, alpha=0.3 if faint else 0.6, line_color=None, **_colour_options(frame, PRUNED_COLOR)
    )


def coreset_points(frame: pd.DataFrame, *, projection: str = "UMAP", axes: Any = None) -> Any:
    """The coreset's rows of a :func:`map_frame`: blue, or outlined label colours."""
    kept = frame["status"].cat.codes.to_numpy() == STATUS_LABELS.index("coreset")
    outline = {"line_color": "#222222", "line_width": 0.6} if "colour" in frame else {}
    return _points(frame, axes or _map_axes(projection), kept, label="coreset").opts(
        size=5 if outline else 4,
        alpha=0.9,
        **({"line_color": None} | outline),
        **_colour_options(frame, SELECTED_COLOR),
    )


def highlight_points(rows: pd.DataFrame, *, projection: str = "UMAP", axes: Any = None) -> Any:
    """Orange rings around highlighted sequences (rows of a :func:`map_frame`)."""
    return _points(rows, axes or _map_axes(projection)).opts(
        fill_color=None, line_color=HIGHLIGHT_COLOR, line_width=2, size=10
    )


def rasterize_points(points: Any, *, color: str, categories: Any = None) -> Any:
    """Density image of points (an element or a DynamicMap).

    Aggregated by datashader on the server for the current zoom. In shades of
    ``color`` (histogram-equalised, empty pixels transparent), or, with
    ``categories`` (of a ``colour`` column), each pixel in its commonest label's colour.
    """
    from holoviews.operation.datashader import datashade, rasterize

    if categories is not None:
        import datashader

        return datashade(
            points, aggregator=datashader.count_cat("colour"), color_key=label_colours(categories)
        )
    light = {SELECTED_COLOR: "#9ecae1", PRUNED_COLOR: "#e6e6e6"}.get(color, "#ffffff")
    return rasterize(points).opts(
        cmap=[light, color],
        cnorm="eq_hist",
        clipping_colors={"min": "transparent", "NaN": "transparent"},
        colorbar=False,
    )


# bins per axis of :func:`coreset_density` (about the map's size in pixels)
DENSITY_BINS = 400


def coreset_density(
    frame: pd.DataFrame,
    *,
    axes: tuple[str, str] = ("x", "y"),
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    bins: int = DENSITY_BINS,
) -> Any:
    """The coreset rows of a :func:`map_frame` as a density image, in shades of blue.

    What :func:`rasterize_points` draws for the coreset layer, made directly (a 2-D
    histogram over the shown ranges, default the whole pool's), which is several
    times cheaper to update at every control change; the counts are
    histogram-equalized (:func:`equalized`), empty bins are transparent.
    """
    holoviews = hv()
    kept = frame["status"].cat.codes.to_numpy() == STATUS_LABELS.index("coreset")
    x, y = frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)
    limits = []
    for values, shown in ((x, x_range), (y, y_range)):
        low, high = shown if shown is not None else (values.min(), values.max())
        if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
            low, high = (low - 0.5, low + 0.5) if np.isfinite(low) else (0.0, 1.0)
        limits.append((float(low), float(high)))
    counts, x_edges, y_edges = np.histogram2d(x[kept], y[kept], bins=bins, range=limits)
    density = equalized(counts).T  # rows: y
    xs, ys = (x_edges[:-1] + x_edges[1:]) / 2, (y_edges[:-1] + y_edges[1:]) / 2
    kdims = [holoviews.Dimension("x", label=axes[0]), holoviews.Dimension("y", label=axes[1])]
    image = holoviews.Image((xs, ys, density), kdims=kdims, vdims=["coreset"], label="coreset")
    # equalized here, not by Bokeh's eq_hist colour mapper: that one re-bins every pixel
    # in the browser at each change (about 0.15 s of Chromium's time per image)
    return image.opts(
        cmap=["#9ecae1", SELECTED_COLOR],
        cnorm="linear",
        clim=(0.0, 1.0),
        clipping_colors={"min": "transparent", "NaN": "transparent"},
        colorbar=False,
    )


def equalized(counts: np.ndarray) -> np.ndarray:
    """Histogram-equalized levels in (0, 1] of the non-empty cells of ``counts``; NaN where empty.

    A cell's level is the fraction of non-empty cells whose count is at most its
    own (what an ``eq_hist`` colour mapping does), so a linear colour map shows
    sparse and dense regions alike.
    """
    levels = np.full(counts.shape, np.nan, dtype=np.float32)  # half the bytes sent per change
    filled = counts > 0
    if filled.any():
        _, inverse, repeats = np.unique(counts[filled], return_inverse=True, return_counts=True)
        levels[filled] = (np.cumsum(repeats) / filled.sum())[inverse]
    return levels


def style_map(figure: Any, *, title: str, height: int = 420, rasterized: bool = False) -> Any:
    """Size, title and legend of a map overlay (``rasterized``: density images, no legend)."""
    return figure.opts(
        title=fit_title(title),
        responsive=True,
        height=height,
        legend_position="top_right",
        show_legend=not rasterized,
        **(ON_CANVAS if rasterized else {}),  # WebGL only for the points of a small pool
    )


def with_point_hover(figure: Any, frame: pd.DataFrame, columns: tuple[str, ...]) -> Any:
    """One tooltip for an overlay of :func:`pool_points` and :func:`coreset_points`.

    The tooltip is the pool layer's, limited to the point under the pointer, and
    says whether that point is kept (it is in the coreset layer's data) or
    pruned; it hides while a box or lasso is drawn. ``columns`` are the columns
    of ``frame`` (the layers' :func:`map_frame`) it lists: numbers from the
    layer's data, text (ids, labels) from columns sent once with the figure and
    looked up by the point's ``index``. (Both layers need HoloViews' ``hover``
    tool, which makes them carry their columns; the hook replaces its tooltips.)
    """
    texts = {
        c: np.array([None if v is None or v != v else str(v) for v in frame[c]], dtype=object)
        for c in columns
        if _is_text(frame[c])
    }
    rows = [
        (
            _LABELS.get(c, c),
            f"@{{index}}{{{c}}}"
            if c in texts
            else f"@{{{c}}}" + ("{%.3g}" if c == "self_influence" else ""),
        )
        for c in columns
    ]
    rows.append(("status", "@{index}{status}"))

    def hook(plot: Any, element: Any) -> None:
        from bokeh.models import ColumnDataSource, CustomJS, CustomJSHover, HoverTool

        layers = {sp.current_frame.label: sp for sp in plot.subplots.values() if sp.current_frame}
        canvas = plot.handles.get("plot")
        if "pruned" not in layers or "coreset" not in layers or canvas is None:
            return
        if any("bc-hover" in tool.tags for tool in canvas.tools):
            return  # the figure already has it (the hook runs at every update)
        # HoloViews' own tooltips (one per layer, listing every point under the pointer)
        # go; their layers keep the columns that tooltips need
        canvas.tools = [tool for tool in canvas.tools if not isinstance(tool, HoverTool)]
        coreset = layers["coreset"].handles["source"]
        # in a data source, not a plain dict: Bokeh walks plain lists at every document
        # update looking for models (0.06 s per walk at 20,000 ids), but not array columns
        texts_source = ColumnDataSource(data=texts) if texts else None
        lookup = CustomJSHover(
            args={"coreset": coreset, "texts": texts_source, "missing": NO_LABEL}, code=_INDEX_JS
        )
        hover = HoverTool(
            renderers=[layers["pruned"].handles["glyph_renderer"]],
            tooltips=rows,
            formatters={"@{index}": lookup, "@{self_influence}": "printf"},
            limit=1,
            tags=["bc-hover"],
        )
        canvas.add_tools(hover)
        hide = "hover.__bc_on = hover.active; hover.active = false"
        canvas.js_on_event("panstart", CustomJS(args={"hover": hover}, code=hide))
        canvas.js_on_event(
            "panend",
            CustomJS(args={"hover": hover}, code="hover.active = hover.__bc_on ?? true"),
        )

    return figure.opts(hooks=[hook])


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
        frame: a :func:`map_frame` table (with a ``colour`` column: coloured by label).
        rasterize: datashader rasterizing; default when the map has more than
            :data:`RASTERIZE_ABOVE` points (no tooltips then).
        highlight: rows of ``frame`` to ring in orange (e.g. uploaded ids).
        projection: axis label prefix (``"UMAP"`` or ``"PCA"``).
        title: figure title.
        height: figure height in pixels.
    """
    n_kept = int((frame["status"] == "coreset").sum())
    rasterize = len(frame) > RASTERIZE_ABOVE if rasterize is None else rasterize
    figure = _layers(frame, _map_axes(projection), rasterize)
    if highlight is not None and len(highlight):
        figure = figure * highlight_points(highlight, projection=projection)
    if title is None:
        title = f"{projection}: {n_kept:,} coreset among {len(frame):,} sequences"
    return style_map(figure, title=title, height=height, rasterized=rasterize)


def _layers(frame: pd.DataFrame, axes: tuple[str, str], rasterize: bool) -> Any:
    """Pool and coreset layers of a :func:`map_frame`, rasterized or with one tooltip."""
    pool = pool_points(frame, axes=axes)
    kept = coreset_points(frame, axes=axes)
    categories = frame["colour"].cat.categories if "colour" in frame.columns else None
    if rasterize:
        pool = rasterize_points(pool, color=PRUNED_COLOR, categories=categories)
        kept = rasterize_points(kept, color=SELECTED_COLOR, categories=categories)
        return pool * kept
    tools = ["hover", *MAP_TOOLS[:2]]
    hover = tuple(c for c in frame.columns if c not in ("x", "y", "index", "status", "colour"))
    return with_point_hover(pool.opts(tools=tools) * kept.opts(tools=tools), frame, hover)


# ----------------------------------------------------------- score vs length

LENGTH_AXES = ("length (residues)", "self-influence")


def length_trend(frame: pd.DataFrame, *, bins: int = 20, log: bool = False) -> pd.DataFrame:
    """The pool's median self-influence per length bin (``x`` median length, ``y`` median score).

    Bins are length quantiles (at most ``bins``, fewer with few distinct
    lengths); on a log axis non-positive scores are left out.
    """
    points = frame[["x", "y"]]
    if log:
        points = points[points["y"] > 0]
    if points["x"].nunique() < 2:
        return pd.DataFrame({"x": points["x"].to_numpy(), "y": points["y"].to_numpy()}).head(1)
    edges = np.unique(np.quantile(points["x"], np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges, points["x"], side="right") - 1, 0, len(edges) - 2)
    grouped = points.groupby(codes)
    return pd.DataFrame({"x": grouped["x"].median(), "y": grouped["y"].median()}).reset_index(
        drop=True
    )


def log10_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of positive score with ``y`` as its log10: how a rasterized pool shows a
    log score axis (datashader bins linearly; its image on a log axis would be distorted)."""
    shown = frame[frame["y"] > 0].copy()
    shown["y"] = np.log10(shown["y"].to_numpy(np.float64))
    return shown


def length_correlation(frame: pd.DataFrame) -> float | None:
    """Spearman correlation of self-influence and length over the pool (``None``: undefined)."""
    if len(frame) < 3 or frame["x"].nunique() < 2 or frame["y"].nunique() < 2:
        return None
    value = frame["x"].rank().corr(frame["y"].rank())
    return None if value != value else float(value)


def score_length_plot(
    frame: pd.DataFrame,
    *,
    log: bool = False,
    rasterize: bool | None = None,
    title: str | None = None,
    height: int = FIGURE_HEIGHT,
) -> Any:
    """Self-influence against sequence length: the pool (grey), the coreset (blue), the trend.

    Args:
        frame: a :func:`map_frame` whose ``x`` is the length and ``y`` the score.
        log: logarithmic score axis (non-positive scores are not drawn; rasterized,
            the axis is log10 of the score, see :func:`log10_scores`).
        rasterize: datashader rasterizing (default above :data:`RASTERIZE_ABOVE` points).
        title: figure title (default: the pool's Spearman correlation).
        height: figure height in pixels.
    """
    rasterize = len(frame) > RASTERIZE_ABOVE if rasterize is None else rasterize
    log10 = log and rasterize
    shown = log10_scores(frame) if log10 else frame[frame["y"] > 0] if log else frame
    log_axis = log and not log10
    figure = _layers(shown, LENGTH_AXES, rasterize) * trend_curve(shown, log=log_axis)
    if title is None:
        rho = length_correlation(shown)
        title = "Score vs length" + ("" if rho is None else f" (Spearman ρ {rho:.2f})")
    figure = style_length(figure, title=title, height=height, log=log_axis, rasterized=rasterize)
    return figure.opts(ylabel=f"log10 {LENGTH_AXES[1]}") if log10 else figure


def trend_curve(frame: pd.DataFrame, *, log: bool = False) -> Any:
    """The pool's median score per length bin (:func:`length_trend`) as a dashed line."""
    trend = length_trend(frame, log=log)
    holoviews = hv()
    kdims = [holoviews.Dimension("x", label=LENGTH_AXES[0])]
    vdims = [holoviews.Dimension("y", label=LENGTH_AXES[1])]
    return holoviews.Curve(trend, kdims=kdims, vdims=vdims, label="pool median").opts(
        color="#000000", line_dash="dashed", line_width=1.5
    )


def style_length(
    figure: Any, *, title: str, height: int, log: bool, rasterized: bool = False
) -> Any:
    """Size, title, score axis and legend of a score-vs-length overlay (as :func:`style_map`)."""
    return figure.opts(
        title=fit_title(title),
        responsive=True,
        height=height,
        logy=log,
        legend_position="top_left",
        show_legend=not rasterized,
        show_grid=True,
        **(ON_CANVAS if rasterized else {}),
    )
