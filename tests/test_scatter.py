"""Point figures as pure functions of tables: the map and score vs length (scatter)."""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from biocoreset_viz import scatter


def element(figure, kind):
    """The elements of one type in a figure (an element or an overlay)."""
    items = figure.values() if isinstance(figure, hv.Overlay) else [figure]
    return [item for item in items if isinstance(item, kind)]


def test_map_frame_aligns_the_projection_and_marks_the_coreset() -> None:
    scores = pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "id": ["a", "b", "<script>x</script>", "d"],
            "length": [10, 20, 30, 40],
            "self_influence": [0.1, 0.2, 0.3, 0.4],
            "family": ["F1", "F1", "F2", None],
        }
    )
    projection = pd.DataFrame({"index": [3, 2, 1, 0], "x": [3.0, 2.0, 1.0, 0.0], "y": 0.0})
    frame = scatter.map_frame(projection, scores, [1, 2])
    assert frame["x"].tolist() == [0.0, 1.0, 2.0, 3.0]  # reordered by index
    assert frame["status"].tolist() == ["pruned", "coreset", "coreset", "pruned"]
    assert frame["id"].tolist()[2] == "<script>x</script>"  # data stays raw; Bokeh shows text
    with pytest.raises(ValueError, match="3 rows for 4 sequences"):
        scatter.map_frame(projection.iloc[:3], scores, [1])


def test_selection_map_shows_the_coreset_over_the_pool() -> None:
    rng = np.random.default_rng(0)
    n = 500
    projection = pd.DataFrame(
        {"index": np.arange(n), "x": rng.normal(size=n), "y": rng.normal(size=n)}
    )
    scores = pd.DataFrame(
        {"index": np.arange(n), "id": [f"s{i}" for i in range(n)], "self_influence": rng.random(n)}
    )
    frame = scatter.map_frame(projection, scores, np.arange(0, n, 10))
    figure = scatter.selection_map(frame, highlight=frame.iloc[:3])
    pool, kept, rings = element(figure, hv.Points)
    assert len(pool) == n and len(kept) == 50 and len(rings) == 3
    # numbers only: the tooltip looks the ids up by index (HoloViews scans text at each update)
    assert {d.name for d in kept.vdims} == {"index", "self_influence"}
    assert "50 coreset" in figure.opts.get().kwargs["title"]
    rasterized = scatter.selection_map(frame, rasterize=True)
    assert isinstance(rasterized, hv.DynamicMap)  # aggregated per zoom by datashader


def points_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    projection = pd.DataFrame(
        {"index": np.arange(n), "x": rng.normal(size=n), "y": rng.normal(size=n)}
    )
    scores = pd.DataFrame(
        {
            "index": np.arange(n),
            "id": [f"s{i}" for i in range(n)],
            "length": rng.integers(10, 300, n),
            "self_influence": rng.lognormal(size=n),
            "family": [f"F{i % 12}" if i % 7 else None for i in range(n)],
        }
    )
    return scatter.map_frame(projection, scores, np.arange(0, n, 5))


def test_the_map_has_one_tooltip_saying_kept_or_pruned_and_none_while_lassoing() -> None:
    from bokeh.models import HoverTool

    frame = points_frame()
    canvas = hv.render(scatter.selection_map(frame), backend="bokeh")
    hovers = [tool for tool in canvas.tools if isinstance(tool, HoverTool)]
    assert len(hovers) == 1  # one tooltip, not one per layer
    hover = hovers[0]
    assert hover.limit == 1  # the point under the pointer, not every point there
    assert hover.tooltips == [
        ("id", "@{index}{id}"), ("length", "@{length}"),
        ("self-influence", "@{self_influence}{%.3g}"), ("family", "@{index}{family}"),
        ("status", "@{index}{status}"),
    ]  # fmt: skip
    lookup = hover.formatters["@{index}"]
    assert "kept (coreset)" in lookup.code and "pruned" in lookup.code
    # text columns are looked up by a point's index (its row of the map frame)
    assert (frame["index"] == np.arange(300)).all()
    texts = lookup.args["texts"].data
    assert list(texts["id"]) == [f"s{i}" for i in range(300)]
    family = texts["family"]
    assert family[1] == "F1" and family[7] is None and lookup.args["missing"] == "(none)"
    coreset = lookup.args["coreset"]
    assert len(coreset.data["index"]) == 60  # the coreset layer's own data
    assert hover.renderers[0].data_source is not coreset  # the pool layer's tooltip
    events = {event: [c.code for c in callbacks] for event, callbacks in
              canvas.js_event_callbacks.items()}  # fmt: skip
    assert "hover.active = false" in events["panstart"][0]
    assert "hover.active" in events["panend"][0]


def test_label_groups_keep_the_commonest_values_then_other_and_none() -> None:
    values = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] + [None, float("nan"), "  "]
    groups = scatter.label_groups(values, top=2)
    assert list(groups.categories) == ["a", "b", "other", "(none)"]  # b before c: by name
    assert groups.tolist() == ["a"] * 5 + ["b"] * 3 + ["other"] * 4 + ["(none)"] * 3
    colours = scatter.label_colours(groups.categories)
    assert colours["other"] != colours["a"] and len(set(colours.values())) == 4


def test_the_map_coloured_by_a_label_outlines_the_coreset() -> None:
    frame = points_frame()
    frame["colour"] = scatter.label_groups(frame["family"])
    pool, kept = element(scatter.selection_map(frame), hv.Points)
    assert pool.opts.get().kwargs["color"] == "colour" == kept.opts.get().kwargs["color"]
    assert kept.opts.get().kwargs["line_color"] == "#222222"
    hv.render(scatter.selection_map(frame), backend="bokeh")
    rasterized = scatter.selection_map(frame, rasterize=True)  # shaded by label with datashader
    hv.render(rasterized, backend="bokeh")


def test_score_vs_length_shows_the_trend_and_the_correlation() -> None:
    rng = np.random.default_rng(1)
    n = 400
    length = rng.integers(20, 500, n).astype(float)
    score = length**1.5 * rng.lognormal(sigma=0.2, size=n)  # a strong length effect
    frame = scatter.map_frame(
        pd.DataFrame({"index": np.arange(n), "x": length, "y": score}),
        pd.DataFrame({"index": np.arange(n), "id": [f"s{i}" for i in range(n)]}),
        np.arange(0, n, 4),
    )
    figure = scatter.score_length_plot(frame, log=True)
    assert "Spearman ρ 0.9" in figure.opts.get().kwargs["title"]
    (trend,) = element(figure, hv.Curve)
    medians = trend.dframe()["y"].to_numpy()
    assert len(medians) == 20 and medians[-1] > 10 * medians[0]  # the pool's median per bin
    assert len(element(figure, hv.Points)[1]) == 100
    hv.render(figure, backend="bokeh")
    assert scatter.length_correlation(frame.head(2)) is None


def test_coreset_density_is_equalized_on_the_server_for_a_linear_colour_map() -> None:
    levels = scatter.equalized(np.array([[0, 1, 1], [5, 0, 2]]))
    # the fraction of non-empty cells with at most that count; empty cells transparent
    np.testing.assert_allclose(levels, [[np.nan, 0.5, 0.5], [1.0, np.nan, 0.75]])
    assert np.isnan(scatter.equalized(np.zeros((2, 2)))).all()
    frame = points_frame()
    image = scatter.coreset_density(frame, bins=20)
    values = image.dimension_values("coreset", flat=True)
    kept = int((frame["status"] == "coreset").sum())
    assert np.nanmax(values) == 1.0 and np.nanmin(values) > 0
    assert np.isfinite(values).sum() <= kept  # only cells holding a coreset member
    options = image.opts.get().kwargs
    # Bokeh's eq_hist mapper would re-bin every pixel in the browser at each change
    assert options["cnorm"] == "linear" and tuple(options["clim"]) == (0.0, 1.0)
