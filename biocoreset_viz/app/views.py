"""The dashboard's views: each shows one part of a :class:`~biocoreset_viz.app.store.DataStore`.

Every view is a :class:`panel.viewable.Viewer` with a ``store`` and ``__panel__``;
the figure views also have ``figure()``, the HoloViews object for the store's
current state (built by :mod:`biocoreset_viz.plots`), which is what a test or a
notebook inspects. In the page a figure is a DynamicMap driven by the store's
``revision``, so a control change updates the existing plot's data in place.

Text from the data (ids, labels, file names, error messages) is escaped before it
is put in HTML, or handed to widgets that render it as text.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import panel as pn
import param

from biocoreset_viz import plots
from biocoreset_viz.app.store import DataStore, export_bytes
from biocoreset_viz.errors import BiocoresetError

# highlighted sequences drawn on the map at most
HIGHLIGHT_LIMIT = 5_000
# sliders update the views while dragging up to this pool size, on release above
LIVE_UP_TO = 200_000

EXPLANATION = """
**α, pruning rate**: the fraction of the pool removed. The coreset keeps
round((1 − α)·N) sequences; α = 0.9 keeps one in ten.

**β, hard cutoff** (CCI): the fraction of the *most* influential sequences
dropped first. The highest self-influence often marks noise or outliers.

**k, strata** (CCI): the remaining score range is cut into k strata and the
coreset draws from every stratum as evenly as it can, so easy, typical and hard
sequences are all kept. Top-I instead keeps only the highest scores.
"""

CARD_CSS = """
.bc-cards {display: flex; flex-wrap: wrap; gap: 12px; margin: 4px 0 8px 0;}
.bc-card {flex: 1 1 150px; border: 1px solid #d9dee3; border-radius: 8px;
  padding: 10px 14px; background: #fafbfc; min-width: 150px;}
.bc-card .bc-value {font-size: 1.6em; font-weight: 600; color: #0b3c5d;}
.bc-card .bc-title {font-size: 0.85em; color: #555; text-transform: uppercase;
  letter-spacing: 0.03em;}
.bc-card .bc-note {font-size: 0.8em; color: #666;}
"""


def _hv() -> Any:
    import holoviews as hv

    return hv


class StoreView(pn.viewable.Viewer):
    """A view of a DataStore."""

    store = param.ClassSelector(class_=DataStore, doc="The data this view shows.")

    def __init__(self, store: DataStore, **params: Any) -> None:
        super().__init__(store=store, **params)


class FigureView(StoreView):
    """A HoloViews figure recomputed from the store at every revision."""

    height = param.Integer(default=plots.FIGURE_HEIGHT, doc="Figure height in pixels.")
    # CSS class of the figure's pane (for styling and browser tests)
    css_class = "bc-figure"

    def figure(self) -> Any:
        """The HoloViews figure of the store's current state."""
        raise NotImplementedError

    def _dynamic(self) -> Any:
        hv = _hv()
        return hv.DynamicMap(
            lambda revision: self.figure(), streams=[hv.streams.Params(self.store, ["revision"])]
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.pane.HoloViews(
            self._dynamic(),
            sizing_mode="stretch_width",
            min_height=self.height,
            linked_axes=False,
            css_classes=[self.css_class],
        )


class HistogramView(FigureView):
    """Self-influence of the pool and of the coreset, cutoff and strata marked."""

    css_class = "bc-histogram"

    def figure(self) -> Any:
        store = self.store
        return plots.influence_histogram(
            store.histogram,
            log=store.score_scale == "log",
            cutoff=store.cutoff,
            strata_edges=store.strata_edges,
            height=self.height,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        pane = super().__panel__()

        def rebuild(*_: Any) -> None:  # a log axis needs a new Bokeh figure
            pane.object = self._dynamic()

        self.store.param.watch(rebuild, "score_scale")
        return pane


class StrataView(FigureView):
    """Available vs. selected sequences per score stratum."""

    css_class = "bc-strata"

    def figure(self) -> Any:
        return plots.stratum_coverage_plot(
            self.store.strata_table,
            selected_in_cutoff=self.store.selected_in_cutoff,
            height=self.height,
        )


class RedundancyView(FigureView):
    """Family (cluster) sizes and how many of each the coreset keeps."""

    css_class = "bc-redundancy"

    def figure(self) -> Any:
        column = self.store.label_column
        if column is None:
            return None
        return plots.redundancy_plot(
            self.store.labels[column].table, label=column, height=self.height
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if self.store.label_column is None:
            return pn.pane.Alert(
                "This run has no family or cluster labels, so there is no redundancy view.",
                alert_type="light",
            )
        pane = super().__panel__()

        def rebuild(*_: Any) -> None:  # other labels, other categorical axis
            pane.object = self._dynamic()

        self.store.param.watch(rebuild, "label_column")
        return pane


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

    def __panel__(self) -> pn.viewable.Viewable:
        if self.store.embeddings is None:
            return pn.pane.Alert(
                "This run has no embeddings, so distances to the coreset cannot be shown.",
                alert_type="light",
            )
        return super().__panel__()


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


class MapView(StoreView):
    """UMAP (or PCA) map: coreset in colour over the whole pool in grey.

    Box or lasso select lists the sequences of a region in the
    :class:`SequenceTable`. The grey layer does not change with the selection,
    so a control change redraws only the coreset layer.
    """

    height = param.Integer(default=440, doc="Figure height in pixels.")

    def figure(self) -> Any:
        frame = self.store.map_frame()
        if frame is None:
            return None
        rows = self.store.highlighted
        return plots.selection_map(
            frame,
            highlight=frame.iloc[rows[:HIGHLIGHT_LIMIT]] if len(rows) else None,
            projection=self._axis(),
            height=self.height,
        )

    def _axis(self) -> str:
        return "UMAP" if self.store.projection_kind == "umap" else "PCA"

    def _dynamic(self) -> Any:
        hv = _hv()
        store = self.store
        base = store.map_frame()
        if base is None:
            return None
        axis = self._axis()
        rasterize = store.n_total > plots.RASTERIZE_ABOVE
        pool = plots.pool_points(base, projection=axis)
        coreset = hv.DynamicMap(
            lambda revision: plots.coreset_points(store.map_frame(), projection=axis),
            streams=[hv.streams.Params(store, ["revision"])],
        )
        rings = hv.DynamicMap(
            lambda highlighted: plots.highlight_points(
                base.iloc[highlighted[:HIGHLIGHT_LIMIT]], projection=axis
            ),
            streams=[hv.streams.Params(store, ["highlighted"])],
        )
        if rasterize:
            pool = plots.rasterize_points(pool, color=plots.PRUNED_COLOR)
            coreset = plots.rasterize_points(coreset, color=plots.SELECTED_COLOR)
        tools = ["box_select", "lasso_select"] + ([] if rasterize else ["hover"])
        pool = pool.opts(tools=tools, active_tools=["box_select", "wheel_zoom"])
        coreset = coreset.opts(tools=tools)
        title = f"{axis} map: coreset (blue) over all {store.n_total:,} sequences (grey)"
        figure = plots.style_map(
            pool * coreset * rings,
            title=title,
            height=self.height,
            legend=not rasterize,
        )
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

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        figure = self._dynamic()
        if figure is None:
            return pn.pane.Alert(html.escape(store.projection_status), alert_type="light")
        pane = pn.pane.HoloViews(
            figure,
            sizing_mode="stretch_width",
            min_height=self.height,
            linked_axes=False,
            css_classes=["bc-map"],
        )
        status = pn.pane.HTML(
            pn.bind(
                lambda text: f"<small>{html.escape(text)}</small>", store.param.projection_status
            ),
            sizing_mode="stretch_width",
        )

        def rebuild(*_: Any) -> None:  # new coordinates, new axes
            pane.object = self._dynamic()

        store.param.watch(rebuild, "projection_kind")
        return pn.Column(pane, status, sizing_mode="stretch_width")


class SequenceTable(StoreView):
    """The sequences of the region drawn on the map (else highlighted, else the coreset)."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        frame, caption = store.table_rows()
        table = pn.widgets.Tabulator(
            frame,
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=12,
            sizing_mode="stretch_width",
            height=430,
            layout="fit_data_stretch",
            titles={"self_influence": "score"},
            css_classes=["bc-table"],
            formatters={"self_influence": {"type": "money", "precision": 4, "symbol": ""}},
        )
        label = pn.pane.HTML(
            f"<b>{html.escape(caption)}</b>",
            sizing_mode="stretch_width",
            css_classes=["bc-table-caption"],
        )
        clear = pn.widgets.Button(label="Clear region", color="light", width=110)
        clear.on_click(lambda _: store.clear_brush())

        def refresh(*_: Any) -> None:
            rows, text = store.table_rows()
            table.value = rows
            label.object = f"<b>{html.escape(text)}</b>"

        store.param.watch(refresh, ["brushed", "highlighted", "revision"])
        return pn.Column(pn.Row(label, clear), table, sizing_mode="stretch_width")


def summary_cards_html(summary: dict[str, Any]) -> str:
    """The summary cards as HTML; every value from the data is escaped."""
    cards = [
        ("Pool", f"{summary['pool']:,}", "scored sequences", "pool-size"),
        (
            "Coreset",
            f"{summary['coreset']:,}",
            f"{summary['kept_fraction']:.1%} of the pool kept",
            "coreset-size",
        ),
        (
            "Strata represented",
            f"{summary['strata'][0]} / {summary['strata'][1]}",
            "non-empty score strata with a coreset member",
            "strata-covered",
        ),
    ]
    for column, (kept, total) in list(summary.get("labels", {}).items())[:2]:
        cards.append(
            (f"{column} kept", f"{kept:,} / {total:,}", f"{column} values with a member", "")
        )
    if "nn_median" in summary:
        note = "pruned → nearest coreset member"
        if summary.get("nn_sampled"):
            note += " (sample)"
        cards.append(("Median distance", f"{summary['nn_median']:.3g}", note, "nn-median"))
    parts = []
    for title, value, note, css in cards:
        klass = f"bc-value {css}".strip()
        parts.append(
            '<div class="bc-card">'
            f'<div class="bc-title">{html.escape(title)}</div>'
            f'<div class="{klass}">{html.escape(value)}</div>'
            f'<div class="bc-note">{html.escape(note)}</div></div>'
        )
    return f'<div class="bc-cards">{"".join(parts)}</div>'


class SummaryCards(StoreView):
    """Pool size, coreset size, strata and families kept, distance to the coreset."""

    def html(self) -> str:
        return summary_cards_html(self.store.summary)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.pane.HTML(
            pn.bind(lambda revision: self.html(), self.store.param.revision),
            stylesheets=[CARD_CSS],
            sizing_mode="stretch_width",
        )


class Controls(StoreView):
    """Method, α, β, k, strata, seed; β, k and strata are enabled only for CCI."""

    def alpha_label(self) -> str:
        store = self.store
        return f"α, pruning rate: keeps {store.coreset_size():,} of {store.n_total:,}"

    def slider(self, kind: type, name: str, **options: Any) -> Any:
        """A slider for a store parameter: live while dragging on pools up to
        :data:`LIVE_UP_TO` sequences, on release above (where an update takes longer)."""
        store = self.store
        parameter = store.param[name]
        if store.n_total <= LIVE_UP_TO:
            return kind.from_param(parameter, **options)
        low, high = parameter.bounds
        widget = kind(value=getattr(store, name), start=low, end=high, **options)
        if getattr(parameter, "step", None) and kind is pn.widgets.FloatSlider:
            widget.step = parameter.step
        widget.param.watch(lambda event: setattr(store, name, event.new), "value_throttled")
        store.param.watch(lambda event: setattr(widget, "value", event.new), name)
        return widget

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        method = pn.widgets.Select.from_param(store.param.method, label="Method")
        wide = {"sizing_mode": "stretch_width"}
        alpha = self.slider(
            pn.widgets.FloatSlider,
            "pruning_rate",
            label=self.alpha_label(),
            css_classes=["bc-alpha"],
            **wide,
        )
        beta = self.slider(pn.widgets.FloatSlider, "hard_cutoff", label="β, hard cutoff", **wide)
        k = self.slider(pn.widgets.IntSlider, "n_strata", label="k, strata", **wide)
        strata = pn.widgets.RadioButtonGroup.from_param(
            store.param.strata, label="Strata", color="light", sizing_mode="stretch_width"
        )
        seed = pn.widgets.IntInput.from_param(store.param.seed, label="Seed", width=120)
        scale = pn.widgets.RadioButtonGroup.from_param(
            store.param.score_scale, color="light", sizing_mode="stretch_width"
        )

        def update(*_: Any) -> None:
            alpha.label = self.alpha_label()
            cci = store.method == "cci"
            beta.disabled = k.disabled = strata.disabled = not cci
            seed.disabled = store.method in ("topi", "bottomi")

        store.param.watch(update, ["pruning_rate", "method"])
        update()
        widgets: list[Any] = [method, alpha, beta, k, pn.pane.HTML("<small>Strata</small>"), strata]
        widgets += [seed, pn.pane.HTML("<small>Histogram score axis</small>"), scale]
        if store.param.label_column.objects:
            widgets.append(
                pn.widgets.Select.from_param(store.param.label_column, label="Redundancy by")
            )
        error = pn.pane.Alert(
            pn.bind(lambda text: html.escape(text), store.param.error),
            alert_type="warning",
            visible=pn.bind(bool, store.param.error),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            *widgets, error, pn.pane.Markdown(EXPLANATION), sizing_mode="stretch_width"
        )


class HighlightUpload(StoreView):
    """Upload a FASTA/CSV of your own ids to highlight them on the map and in the table."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        upload = pn.widgets.FileInput(
            accept=",".join([".fa", ".fasta", ".fna", ".faa", ".fas", ".csv", ".tsv", ".gz"]),
            sizing_mode="stretch_width",
            css_classes=["bc-upload"],
        )
        message = pn.pane.Alert(
            "",
            alert_type="light",
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["bc-upload-message"],
        )
        clear = pn.widgets.Button(label="Clear highlight", color="light")

        def uploaded(event: Any) -> None:
            if event.new is None:
                return
            try:
                store.highlight_upload(event.new, upload.filename or "upload")
            except BiocoresetError as error:
                message.alert_type = "danger"
                message.object = html.escape(str(error))
            else:
                message.alert_type = "success"
                message.object = html.escape(store.highlight_message)
            message.visible = True

        def cleared(_: Any) -> None:
            store.highlight_ids([])
            message.visible = False

        upload.param.watch(uploaded, "value")
        clear.on_click(cleared)
        return pn.Column(
            pn.pane.Markdown(
                "**Highlight your sequences**: a FASTA or CSV whose ids are in this run "
                "(at most 5 MB)."
            ),
            upload,
            clear,
            message,
            sizing_mode="stretch_width",
        )


class ExportButtons(StoreView):
    """Downloads of the current coreset: FASTA, CSV of ids, JSON manifest."""

    def __panel__(self) -> pn.viewable.Viewable:
        store = self.store
        problem = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")

        def guarded(make: Any) -> Any:
            def callback() -> Any:
                try:
                    return export_bytes(make())
                except BiocoresetError as error:
                    problem.object = html.escape(str(error))
                    problem.visible = True
                    return None

            return callback

        fasta = pn.widgets.FileDownload(
            callback=guarded(store.coreset_fasta),
            filename="coreset.fasta",
            label="Coreset FASTA",
            color="primary",
            sizing_mode="stretch_width",
            css_classes=["bc-export-fasta"],
        )
        csv = pn.widgets.FileDownload(
            callback=guarded(store.coreset_csv),
            filename="coreset.csv",
            label="Ids (CSV)",
            color="light",
            sizing_mode="stretch_width",
            css_classes=["bc-export-csv"],
        )
        manifest = pn.widgets.FileDownload(
            callback=guarded(store.coreset_manifest),
            filename="coreset.json",
            label="Parameters (JSON)",
            color="light",
            sizing_mode="stretch_width",
            css_classes=["bc-export-json"],
        )
        reason = store.fasta_unavailable()
        if reason is not None:
            fasta.disabled = True
            fasta.label = "Coreset FASTA (unavailable)"
            fasta.description = reason

        def rename(*_: Any) -> None:
            name = store.export_name()
            fasta.filename, csv.filename, manifest.filename = (
                f"{name}.fasta",
                f"{name}.csv",
                f"{name}.json",
            )

        store.param.watch(rename, "revision")
        rename()
        return pn.Column(
            pn.pane.Markdown("**Export the coreset**"),
            fasta,
            pn.Row(csv, manifest, sizing_mode="stretch_width"),
            problem,
            sizing_mode="stretch_width",
        )
