"""The dashboard's figures: each shows one part of a :class:`~biocoreset_viz.app.store.DataStore`.

Every view is a :class:`panel.viewable.Viewer` with a ``store`` and
``__panel__`` (:class:`StoreView`, the base of the views in
:mod:`~biocoreset_viz.app.tables` and :mod:`~biocoreset_viz.app.sidebar` too).
The figure views here also have ``figure()``, the HoloViews object for the
store's current state (built by :mod:`biocoreset_viz.plots`), which is what a
test or a notebook inspects. In the page a figure is a DynamicMap driven by the
store's ``revision``, so a control change updates the existing plot's data in place.
While the store is busy selecting with a slow method, every figure shows Panel's
loading overlay instead of its (previous) data.

Views: :class:`HistogramView`, :class:`LengthView` (score vs length),
:class:`MapView`, :class:`StrataView` (greyed for methods without strata),
:class:`RedundancyView`, :class:`NeighbourView`, :class:`CurvesView`.

Text from the data (ids, labels, status lines) is escaped before it is put in
HTML; in figures it reaches Bokeh only as data, which Bokeh renders as text.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

import numpy as np
import panel as pn
import param

from biocoreset_viz import plots
from biocoreset_viz.app.store import MAP_STATUS, DataStore

# highlighted sequences drawn on the map at most
HIGHLIGHT_LIMIT = 5_000
# a method's name in a figure title
SHORT_METHOD = {
    "cci": "CCI",
    "topi": "Top-I",
    "bottomi": "Bottom-I",
    "random": "random",
    "diversity": "diversity",
    "identity": "identity",
}


def _hv() -> Any:
    import holoviews as hv

    return hv


class StoreView(pn.viewable.Viewer):
    """A view of a DataStore."""

    store = param.ClassSelector(class_=DataStore, doc="The data this view shows.")

    def __init__(self, store: DataStore, **params: Any) -> None:
        super().__init__(store=store, **params)

    def follow_busy(self, pane: Any) -> Any:
        """Show Panel's loading overlay on ``pane`` while the store selects in the background."""
        pane.loading = bool(self.store.busy)
        self.store.param.watch(lambda event: setattr(pane, "loading", bool(event.new)), "busy")
        return pane


class FigureView(StoreView):
    """A HoloViews figure recomputed from the store at every revision."""

    height = param.Integer(default=plots.FIGURE_HEIGHT, doc="Figure height in pixels.")
    # CSS class of the figure's pane (for styling and browser tests)
    css_class: ClassVar[str] = "bc-figure"
    # store parameters whose change needs a new Bokeh figure (new axes), not new data
    rebuild_on: ClassVar[tuple[str, ...]] = ()

    def figure(self) -> Any:
        """The HoloViews figure of the store's current state."""
        raise NotImplementedError

    def unavailable(self) -> str | None:
        """Why the run cannot show this figure (HTML, shown instead), or ``None``."""
        return None

    def _dynamic(self) -> Any:
        hv = _hv()
        return hv.DynamicMap(
            lambda revision: self.figure(), streams=[hv.streams.Params(self.store, ["revision"])]
        )

    def __panel__(self) -> pn.viewable.Viewable:
        reason = self.unavailable()
        if reason is not None:
            return pn.pane.Alert(reason, alert_type="light")
        pane = pn.pane.HoloViews(
            self._dynamic(),
            sizing_mode="stretch_width",
            min_height=self.height,
            linked_axes=False,
            css_classes=[self.css_class],
        )
        if self.rebuild_on:

            def rebuild(*_: Any) -> None:
                pane.object = self._dynamic()

            self.store.param.watch(rebuild, list(self.rebuild_on))
        return self.follow_busy(pane)


class HistogramView(FigureView):
    """The chosen score of the pool and of the coreset, cutoff and strata marked."""

    css_class = "bc-histogram"
    rebuild_on = ("score_scale", "score")  # a log axis, another score's range: a new figure

    def figure(self) -> Any:
        store = self.store
        return plots.influence_histogram(
            store.histogram,
            log=store.score_scale == "log",
            cutoff=store.cutoff,
            strata_edges=store.strata_edges,
            height=self.height,
        )


class StrataView(FigureView):
    """Available vs. selected sequences per score stratum."""

    css_class = "bc-strata"

    def figure(self) -> Any:
        store = self.store
        return plots.stratum_coverage_plot(
            store.strata_table,
            selected_in_cutoff=store.selected_in_cutoff,
            muted=None if store.uses_strata else SHORT_METHOD.get(store.selection.method),
            height=self.height,
        )


class RedundancyView(FigureView):
    """Family (cluster) sizes and how many of each the coreset keeps."""

    css_class = "bc-redundancy"
    rebuild_on = ("label_column",)  # other labels, other categorical axis

    def figure(self) -> Any:
        column = self.store.label_column
        if column is None:
            return None
        return plots.redundancy_plot(
            self.store.labels[column].table, label=column, height=self.height
        )

    def unavailable(self) -> str | None:
        if self.store.label_column is None:
            return "This run has no family or cluster labels, so there is no redundancy view."
        return None


class NeighbourView(FigureView):
    """Distance of pruned sequences to their nearest coreset member."""

    css_class = "bc-neighbours"

    def figure(self) -> Any:
        found = self.store.neighbours
        distances = np.empty(0) if found is None else found.distances
        metric = "euclidean" if found is None else found.metric
        return plots.neighbour_distance_plot(
            distances,
            metric=metric,
            sampled=self.store.summary.get("nn_sampled", False),
            height=self.height,
        )

    def unavailable(self) -> str | None:
        if self.store.embeddings is None:
            return "This run has no embeddings, so distances to the coreset cannot be shown."
        return None


class CurvesView(StoreView):
    """Downstream learning curves of the run, when it has evaluation results."""

    def figure(self) -> Any:
        curves = self.store.curves()
        return None if curves is None or curves.empty else plots.learning_curves(curves)

    def __panel__(self) -> pn.viewable.Viewable:
        figure = self.figure()
        if figure is None:
            return pn.pane.Alert(
                "No downstream results yet: `biocoreset evaluate` writes "
                "evaluation/curves.parquet into the run, and its learning curves appear here.",
                alert_type="light",
            )
        return pn.pane.HoloViews(figure, sizing_mode="stretch_width", linked_axes=False)


class PointsView(FigureView):
    """A point figure: the pool underneath (static), the coreset and highlights on top.

    The pool layer does not change with the selection, so a control change
    redraws only the coreset layer (and the highlight rings when they change).
    """

    axes: ClassVar[tuple[str, str]] = ("x", "y")

    def points(self) -> Any:
        """The store's points for this view (a :func:`~biocoreset_viz.plots.map_frame`)."""
        raise NotImplementedError

    def title(self) -> str:
        raise NotImplementedError

    def decorate(self, figure: Any, rasterize: bool) -> Any:
        """Size, title and axes of the finished overlay."""
        return plots.style_map(figure, title=self.title(), height=self.height, rasterized=rasterize)

    def _layers(self) -> tuple[Any, Any, bool]:
        """The pool layer, the coreset layer (a DynamicMap) and whether they are rasterized."""
        hv = _hv()
        store = self.store
        base = self.points()
        axes = self.axes
        rasterize = store.n_total > plots.RASTERIZE_ABOVE
        pool = plots.pool_points(base, axes=axes)
        revision = hv.streams.Params(store, ["revision"])
        coreset = hv.DynamicMap(
            lambda revision: plots.coreset_points(self.points(), axes=axes), streams=[revision]
        )
        categories = base["colour"].cat.categories if "colour" in base.columns else None
        if rasterize:
            pool = plots.rasterize_points(pool, color=plots.PRUNED_COLOR, categories=categories)
        if rasterize and categories is not None:
            coreset = plots.rasterize_points(
                coreset, color=plots.SELECTED_COLOR, categories=categories
            )
        elif rasterize:  # drawn directly: several times cheaper at every change than datashader
            coreset = hv.DynamicMap(
                lambda revision, x_range, y_range: plots.coreset_density(
                    self.points(), axes=axes, x_range=x_range, y_range=y_range
                ),
                streams=[revision, hv.streams.RangeXY(source=pool)],
            )
        # "hover" makes the layers carry the tooltip's columns (plots.with_point_hover)
        tools = ["box_select", "lasso_select"] + ([] if rasterize else ["hover"])
        pool = pool.opts(tools=tools, active_tools=["box_select", "wheel_zoom"])
        return pool, coreset.opts(tools=tools), rasterize

    def _overlay(self, pool: Any, coreset: Any, extra: Any, rasterize: bool) -> Any:
        figure = pool * coreset
        for layer in extra:
            figure = figure * layer
        if not rasterize:
            figure = plots.with_point_hover(figure, self.points(), self.store.hover_columns())
        return self.decorate(figure, rasterize)


class LengthView(PointsView):
    """The chosen score (self-influence or a variant) against sequence length, with the
    pool's median trend."""

    css_class = "bc-length"
    axes = plots.LENGTH_AXES
    rebuild_on = ("score_scale", "score")  # a log axis, another score's range: a new figure

    def points(self) -> Any:
        frame = self.store.length_frame()
        return plots.log10_scores(frame) if frame is not None and self.log10() else frame

    def log(self) -> bool:
        return self.store.score_scale == "log" and bool((self.store.scores > 0).any())

    def log10(self) -> bool:
        """A log score axis on a rasterized pool: drawn as log10 of the score on a linear
        axis (:func:`~biocoreset_viz.plots.log10_scores`)."""
        return self.log() and self.store.n_total > plots.RASTERIZE_ABOVE

    def log_axis(self) -> bool:
        return self.log() and not self.log10()

    def title(self) -> str:
        frame = self.points()
        rho = plots.length_correlation(frame[frame["y"] > 0] if self.log_axis() else frame)
        score = self.store.score.replace("_", " ")
        return f"{score} vs length" + ("" if rho is None else f" (Spearman ρ {rho:.2f})")

    def decorate(self, figure: Any, rasterize: bool) -> Any:
        log, title = self.log_axis(), self.title()
        figure = plots.style_length(
            figure, title=title, height=self.height, log=log, rasterized=rasterize
        )
        if self.log10():
            figure = figure.opts(ylabel=f"log10 {self.store.score.replace('_', ' ')}")
        return figure

    def figure(self) -> Any:
        frame = self.store.length_frame()
        if frame is None:
            return None
        return plots.score_length_plot(frame, log=self.log(), title=self.title())

    def _dynamic(self) -> Any:
        pool, coreset, rasterize = self._layers()
        trend = plots.trend_curve(self.points(), log=self.log_axis())
        return self._overlay(pool, coreset, [trend], rasterize)

    def unavailable(self) -> str | None:
        if self.points() is None:
            return "This run records no sequence lengths, so score vs length cannot be shown."
        return None


class MapView(PointsView):
    """UMAP (or PCA) map: coreset in colour over the whole pool in grey (or by label).

    Box or lasso select lists the sequences of a region in the
    :class:`~biocoreset_viz.app.tables.SequenceTable`.
    """

    height = param.Integer(default=440, doc="Figure height in pixels.")
    css_class = "bc-map"
    rebuild_on = ("projection_kind", "map_colour")  # new coordinates or colours

    def points(self) -> Any:
        return self.store.map_frame()

    def _axis(self) -> str:
        return "UMAP" if self.store.projection_kind == "umap" else "PCA"

    @property
    def axes(self) -> tuple[str, str]:  # type: ignore[override]
        return (f"{self._axis()} 1", f"{self._axis()} 2")

    def title(self) -> str:
        colour = self.store.map_colour
        if colour == MAP_STATUS:
            return f"{self._axis()} map: coreset (blue), pruned (grey)"
        return f"{self._axis()} map by {plots.short(colour, 16)}: coreset outlined"

    def figure(self) -> Any:
        frame = self.points()
        if frame is None:
            return None
        rows = self.store.highlighted
        return plots.selection_map(
            frame,
            highlight=frame.iloc[rows[:HIGHLIGHT_LIMIT]] if len(rows) else None,
            projection=self._axis(),
            title=self.title(),
            height=self.height,
        )

    def _dynamic(self) -> Any:
        hv = _hv()
        store = self.store
        base = self.points()
        if base is None:
            return None
        pool, coreset, rasterize = self._layers()
        axes = self.axes
        rings = hv.DynamicMap(
            lambda highlighted: plots.highlight_points(
                base.iloc[highlighted[:HIGHLIGHT_LIMIT]], axes=axes
            ),
            streams=[hv.streams.Params(store, ["highlighted"])],
        )
        figure = self._overlay(pool, coreset, [rings], rasterize)
        hv.streams.BoundsXY(source=pool).add_subscriber(self._boxed)
        hv.streams.Lasso(source=pool).add_subscriber(self._lassoed)
        return figure

    def _boxed(self, bounds: Any) -> None:
        if bounds is not None:
            self.store.brush_box(*bounds)

    def _lassoed(self, geometry: Any) -> None:
        if geometry is not None and len(geometry) >= 3:
            vertices = np.asarray(geometry, dtype=np.float64)
            self.store.brush_lasso(vertices[:, 0], vertices[:, 1])

    def unavailable(self) -> str | None:
        if self.store.map_frame() is None:
            return html.escape(self.store.projection_status)
        return None

    def __panel__(self) -> pn.viewable.Viewable:
        pane = super().__panel__()
        if self.unavailable() is not None:
            return pane  # the alert saying why
        status = pn.pane.HTML(
            pn.bind(
                lambda text: f"<small>{html.escape(text)}</small>",
                self.store.param.projection_status,
            ),
            sizing_mode="stretch_width",
        )
        return pn.Column(pane, status, sizing_mode="stretch_width")
