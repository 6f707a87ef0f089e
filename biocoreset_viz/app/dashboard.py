"""The dashboard's layout (:class:`App`): the controls and exports beside the views.

In a notebook::

    from biocoreset_viz.app import App, DataStore
    App(DataStore("runs/rna"))          # displays the dashboard inline

Served (what ``biocoreset serve`` does per browser session)::

    App(DataStore(run_dir), runs=catalog).template().servable()

On a served page slow methods select in a worker thread
(:meth:`~biocoreset_viz.app.store.DataStore.select_in_background`), so the page
stays responsive and shows that it is selecting; the background UMAP map is
swapped in when it is ready.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from biocoreset_viz.app.sidebar import Controls, ExportButtons, HighlightUpload
from biocoreset_viz.app.store import DataStore
from biocoreset_viz.app.tables import ReadingGuide, SequenceTable, SummaryCards
from biocoreset_viz.app.views import (
    CurvesView,
    HistogramView,
    LengthView,
    MapView,
    NeighbourView,
    RedundancyView,
    StrataView,
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
# The header's busy spinner stays on at least this long (Panel's default, 500 ms,
# kept it spinning for twice as long as a control change of 100,000 sequences takes
# to reach the page, so the page looked busy after every view had settled)
BUSY_MIN_MILLISECONDS = 150


class App(pn.viewable.Viewer):
    """The whole dashboard for one :class:`DataStore`.

    Args:
        store: the run's data.
        runs: the runs a served page may switch to, as ``(label, link)`` pairs
            (links are ``?run=...`` query strings); the current one included.
    """

    store = param.ClassSelector(class_=DataStore, doc="The data the dashboard shows.")
    title = param.String(default=TITLE, doc="Page title.")
    runs = param.List(default=[], doc="(label, link) of the runs the page may switch to.")

    def __init__(self, store: DataStore, **params: Any) -> None:
        super().__init__(store=store, **params)
        self.cards = SummaryCards(store)
        self.guide = ReadingGuide(store)
        self.controls = Controls(store)
        self.histogram = HistogramView(store)
        self.length = LengthView(store)
        self.strata = StrataView(store)
        self.map = MapView(store)
        self.table = SequenceTable(store)
        self.redundancy = RedundancyView(store)
        self.neighbours = NeighbourView(store)
        self.curves = CurvesView(store)
        self.upload = HighlightUpload(store)
        self.exports = ExportButtons(store)

    def run_switcher(self) -> list[Any]:
        """Links to the other runs under the server's root (nothing when there is one)."""
        if len(self.runs) < 2:
            return []
        links = "".join(
            f'<li><a href="{html.escape(link, quote=True)}">{html.escape(label)}</a></li>'
            for label, link in self.runs
        )
        return [
            pn.layout.Divider(),
            pn.pane.HTML(
                f"<b>Runs in this folder</b><ul class='bc-runs'>{links}</ul>",
                sizing_mode="stretch_width",
                css_classes=["bc-run-list"],
            ),
        ]

    def sidebar(self) -> list[Any]:
        """Controls, display choices, exports, the highlight upload and the other runs."""
        return [
            pn.pane.Markdown("### Selection"),
            self.controls.__panel__(),
            pn.layout.Divider(),
            pn.pane.Markdown("### Display"),
            self.controls.display(),
            pn.layout.Divider(),
            self.exports.__panel__(),
            pn.layout.Divider(),
            self.upload.__panel__(),
            *self.run_switcher(),
        ]

    def main(self) -> list[Any]:
        """Summary cards, how to read them, and the views."""
        self._serve_in_background()
        wide = {"sizing_mode": "stretch_width"}
        return [
            pn.pane.HTML(f"<p><b>Run</b> {self.store.run_title()}. {INTRO}</p>", **wide),
            self.cards.__panel__(),
            self.guide.__panel__(),
            pn.Row(self.histogram.__panel__(), self.length.__panel__(), **wide),
            pn.Row(
                pn.Column(self.map.__panel__(), **wide),
                pn.Column(self.table.__panel__(), **wide),
                **wide,
            ),
            pn.Row(self.strata.__panel__(), self.redundancy.__panel__(), **wide),
            pn.Row(self.neighbours.__panel__(), pn.Spacer(), **wide),
            pn.pane.Markdown("### Downstream learning curves", **wide),
            self.curves.__panel__(),
        ]

    def _serve_in_background(self) -> None:
        """On a served page: slow selections in a worker, the UMAP map swapped in when done."""
        document = pn.state.curdoc
        if document is None or document.session_context is None:
            return  # a notebook or a test: everything synchronous

        def schedule(function: Any) -> None:  # from the worker thread (Bokeh's thread-safe way)
            document.add_next_tick_callback(lambda: _in_document(document, function))

        # one message per change: the browser applies every view's update at once
        self.store.select_in_background(schedule, lambda: pn.io.hold(document, freeze=True))
        if not self.store.projection_pending:
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
        template = pn.template.BootstrapTemplate(
            title=self.title,
            sidebar=self.sidebar(),
            main=self.main(),
            sidebar_width=360,
            header_background=HEADER_COLOR,
        )
        template.busy_indicator.throttle = BUSY_MIN_MILLISECONDS  # the template's own copy
        return template

    def servable(self, title: str | None = None, **kwargs: Any) -> pn.template.BootstrapTemplate:
        """Mark the page for ``panel serve``; returns the template."""
        return self.template().servable(title=title or self.title, **kwargs)


def _in_document(document: Any, function: Any) -> None:
    """Run ``function`` as the session's own code (so Panel updates its models at once)."""
    from panel.io.state import set_curdoc

    with set_curdoc(document):
        function()
