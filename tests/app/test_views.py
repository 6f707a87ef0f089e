"""The dashboard's figures show the store's current state."""

from __future__ import annotations

import holoviews as hv
import numpy as np
from bokeh.document import Document
from bokeh.models import LinearScale, Plot

from biocoreset_viz import plots
from biocoreset_viz.app import views
from biocoreset_viz.app.views import (
    CurvesView,
    HistogramView,
    LengthView,
    MapView,
    NeighbourView,
    RedundancyView,
    StrataView,
)


def test_figures_follow_the_store(store) -> None:
    store.param.update(method="cci", pruning_rate=0.8)
    bars = HistogramView(store).figure().dframe()
    assert bars[bars["kind"] == "coreset"]["y1"].sum() == store.selection.n
    kept = [e for e in MapView(store).figure().values() if isinstance(e, hv.Points)][1]
    assert len(kept) == store.selection.n
    assert isinstance(CurvesView(store).figure(), hv.Layout)
    strata = StrataView(store).figure().dframe()
    assert strata[strata["kind"] == "selected"]["sequences"].sum() == store.selection.n
    family = RedundancyView(store).figure().dframe()
    assert family[family["kind"] == "in pool"]["sequences"].sum() == store.n_total
    pruned = NeighbourView(store).figure().dframe()
    assert pruned["sequences"].sum() == store.n_total - store.selection.n


def test_figures_needing_new_axes_are_rebuilt(store) -> None:
    histogram = HistogramView(store)
    pane = histogram.__panel__()
    pane.get_root(Document())
    before = pane.object
    store.score_scale = "linear" if store.score_scale == "log" else "log"
    assert pane.object is not before  # a log axis needs a new Bokeh figure
    column = MapView(store).__panel__()
    column.get_root(Document())
    figure = column[0].object
    store.use_projection(store.map_frame()[["x", "y"]].assign(index=range(store.n_total)), "pca")
    assert column[0].object is not figure


def test_a_rasterized_score_vs_length_shows_a_log_axis_as_log10_scores(store, monkeypatch) -> None:
    monkeypatch.setattr(plots, "RASTERIZE_ABOVE", 100)  # the fixture's 400 are rasterized
    store.score_scale = "log"
    view = views.LengthView(store)
    assert np.allclose(view.points()["y"], np.log10(store.length_frame()["y"]))
    plot = hv.render(view._dynamic(), backend="bokeh")
    # datashader bins linearly: its image on a log axis would be drawn in the wrong place
    assert isinstance(plot.y_scale, LinearScale)
    assert plot.yaxis[0].axis_label.startswith("log10 ")


def test_only_figures_of_many_points_are_drawn_with_webgl(store, monkeypatch) -> None:
    # WebGL costs a read-back per redraw; it pays only for thousands of point glyphs
    def backends(figure) -> set[str]:
        return {
            plot.output_backend
            for plot in hv.render(figure, backend="bokeh").select({"type": Plot})
        }

    for view in (HistogramView, StrataView, RedundancyView, NeighbourView):
        assert backends(view(store)._dynamic()) == {"canvas"}, view.__name__
    assert backends(CurvesView(store).figure()) == {"canvas"}
    for view in (MapView, LengthView):  # 400 points, drawn as points
        assert backends(view(store)._dynamic()) == {"webgl"}, view.__name__
    monkeypatch.setattr(plots, "RASTERIZE_ABOVE", 100)
    for view in (MapView, LengthView):  # density images
        assert backends(view(store)._dynamic()) == {"canvas"}, view.__name__
