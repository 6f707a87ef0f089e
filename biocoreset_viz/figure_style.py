"""What every figure of :mod:`biocoreset_viz.plots` and :mod:`biocoreset_viz.scatter` shares.

Colours (the Okabe-Ito colour-blind-safe palette), sizes, the rule that a title
fits above a half-page figure at 1,280 pixels, and the lazy HoloViews import
(HoloViews takes a second to import, and the core never imports it at import
time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from biocoreset_viz.errors import InputError

# Colour-blind-safe palette (Okabe-Ito)
SELECTED_COLOR = "#0072B2"
PRUNED_COLOR = "#BBBBBB"
CUTOFF_COLOR = "#D55E00"
STRATA_COLOR = "#333333"
HIGHLIGHT_COLOR = "#E69F00"
CURVE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# Label values on a map coloured by a label column: the commonest get these,
# the rest are "other", missing labels "(none)"
LABEL_COLORS = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#8C564B",
)
OTHER_COLOR = "#999999"
NO_LABEL_COLOR = "#DDDDDD"
STATUS_COLORS = {"coreset": SELECTED_COLOR, "pruned": PRUNED_COLOR}
STATUS_LABELS = ("pruned", "coreset")  # category codes 0 and 1

# Maps with more points than this are rasterized with datashader (and have no tooltips).
RASTERIZE_ABOVE = 50_000
# Options of a figure with few glyphs (bars, curves, density images): drawn on a 2-D
# canvas, not with WebGL (HoloViews' default). WebGL pays for itself only with many
# points; otherwise each redraw adds a GPU read-back and a copy to the page's canvas,
# and in a browser without a GPU (software GL) that was about a fifth of Chromium's
# time per control change of the dashboard (0.1 s of 0.5 s at 100,000 sequences).
ON_CANVAS = {"backend_opts": {"plot.output_backend": "canvas"}}
FIGURE_HEIGHT = 320
# A title longer than this does not fit above a figure half as wide as a
# 1,280-pixel page (beside the sidebar); figure functions shorten theirs to fit.
TITLE_CHARS = 52


def hv() -> Any:
    """HoloViews with the Bokeh options registered."""
    import holoviews
    import holoviews.plotting.bokeh  # noqa: F401 (registers the Bokeh backend's options)

    return holoviews


def fit_title(text: str, limit: int = TITLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (ending in "…" when cut)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def short(name: Any, limit: int = 20) -> str:
    """A name from the data (a label column, a task) cut to ``limit`` characters for a title."""
    return fit_title(str(name), limit)


def selected_indices(selected: Any, n_total: int) -> np.ndarray:
    """Indices from indices, a boolean mask of length N, or a Selection."""
    if selected is None:
        return np.empty(0, dtype=np.int64)
    selected = getattr(selected, "indices", selected)
    array = np.asarray(selected)
    if array.dtype == bool:
        if len(array) != n_total:
            raise InputError(f"mask has {len(array)} entries for {n_total} scores")
        return np.flatnonzero(array)
    return array.astype(np.int64, copy=False)
