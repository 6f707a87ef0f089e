"""The dashboard's layout: controls and exports in the sidebar, the views in the main area.

In a notebook::

    from biocoreset_viz.app import App, DataStore
    App(DataStore("runs/rna"))          # displays the dashboard inline

Served (what ``biocoreset serve`` does per browser session)::

    App(DataStore(run_dir)).servable()
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from biocoreset_viz.app.store import DataStore
from biocoreset_viz.app.views import (
    Controls,
    CurvesView,
    ExportButtons,
    HighlightUpload,
    HistogramView,
    MapView,
    NeighbourView,
    RedundancyView,
    SequenceTable,
    StrataView,
    SummaryCards,
)

TITLE = "biocoreset: which sequences does a coreset keep?"
INTRO = (
    "Each sequence of the pool has a <b>self-influence</b> score: how much it would "
    "change the model if it were trained on it. Choose a selection method and a "
    "pruning rate on the left; every view below follows."
)
HEADER_COLOR = "#0b3c5d"
# how often a session checks whether the background UMAP is done
POLL_MILLISECONDS = 1000


class App(pn.viewable.Viewer):
    """The whole dashboard for one :class:`DataStore`."""

    store = param.ClassSelector(class_=DataStore, doc="The data the dashboard shows.")
    title = param.String(default=TITLE, doc="Page title.")

    def __init__(self, store: DataStore, **params: Any) -> None:
        super().__init__(store=store, **params)
        self.cards = SummaryCards(store)
        self.controls = Controls(store)
        self.histogram = HistogramView(store)
        self.strata = StrataView(store)
        self.map = MapView(store)
        self.table = SequenceTable(store)
        self.redundancy = RedundancyView(store)
        self.neighbours = NeighbourView(store)
        self.curves = CurvesView(store)
        self.upload = HighlightUpload(store)
        self.exports = ExportButtons(store)

    def sidebar(self) -> list[Any]:
        """Controls, explanation, exports and the highlight upload."""
        return [
            pn.pane.Markdown("### Selection"),
            self.controls.__panel__(),
            pn.layout.Divider(),
            self.exports.__panel__(),
            pn.layout.Divider(),
            self.upload.__panel__(),
        ]

    def main(self) -> list[Any]:
        """Summary cards and the views."""
        self._poll_projection()
        wide = {"sizing_mode": "stretch_width"}
        return [
            pn.pane.HTML(f"<p><b>Run</b> {self.store.run_title()}. {INTRO}</p>", **wide),
            self.cards.__panel__(),
            pn.Row(self.histogram.__panel__(), self.strata.__panel__(), **wide),
            pn.Row(
                pn.Column(self.map.__panel__(), sizing_mode="stretch_width"),
                pn.Column(self.table.__panel__(), sizing_mode="stretch_width", max_width=620),
                **wide,
            ),
            pn.Row(self.redundancy.__panel__(), self.neighbours.__panel__(), **wide),
            pn.pane.Markdown("### Downstream learning curves", **wide),
            self.curves.__panel__(),
        ]

    def _poll_projection(self) -> None:
        """Swap in the UMAP map when the background computation finishes (served pages)."""
        if self.store._umap_job is None or pn.state.curdoc is None:
            return
        callback: Any = None

        def poll() -> None:
            if self.store.poll_projection() and callback is not None:
                callback.stop()

        callback = pn.state.add_periodic_callback(poll, period=POLL_MILLISECONDS)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(*self.sidebar(), width=340),
            pn.Column(*self.main(), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def template(self) -> pn.template.BootstrapTemplate:
        """The page: a Bootstrap template (fully local, no web fonts)."""
        return pn.template.BootstrapTemplate(
            title=self.title,
            sidebar=self.sidebar(),
            main=self.main(),
            sidebar_width=360,
            header_background=HEADER_COLOR,
        )

    def servable(self, title: str | None = None, **kwargs: Any) -> pn.template.BootstrapTemplate:
        """Mark the page for ``panel serve``; returns the template."""
        return self.template().servable(title=title or self.title, **kwargs)
