"""The dashboard's map (a part of the store): the projection it shows, PCA until a background
UMAP arrives, and the region drawn on it."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
from support.app_runs import write_run

from biocoreset_viz.app import loading as app_loading
from biocoreset_viz.app.map_projection import MIN_UMAP_POINTS
from biocoreset_viz.app.store import DataStore
from biocoreset_viz.projection import points_in_polygon


def test_the_cached_umap_map_is_used_and_brushing_lists_a_region(store) -> None:
    assert store.projection_kind == "umap"
    frame = store.map_frame()
    assert (frame["status"] == "coreset").sum() == store.selection.n
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    store.brush_box(x.min() - 1, y.min() - 1, float(np.median(x)), y.max() + 1)
    assert set(store.brushed) == set(np.flatnonzero(x <= np.median(x)))
    rows, caption = store.table_rows()
    assert caption.startswith(f"{len(store.brushed):,} sequences in the region")
    assert (rows["status"] == "coreset").sum() == store.selected[store.brushed].sum()
    triangle = ([x.min() - 1, x.max() + 1, x.min() - 1], [y.min() - 1, y.min() - 1, y.max() + 1])
    store.brush_lasso(*triangle)
    assert set(store.brushed) == set(np.flatnonzero(points_in_polygon(x, y, *triangle)))
    store.clear_brush()
    rows, caption = store.table_rows()
    assert "in the coreset" in caption and len(rows) == store.selection.n
    assert rows["self_influence"].is_monotonic_decreasing


def test_pca_is_shown_until_the_background_umap_arrives(tmp_path, monkeypatch) -> None:
    run_dir = write_run(tmp_path, n=120)
    release = threading.Event()

    def slow_umap(source, **settings):
        release.wait(10)
        return pd.DataFrame({"index": np.arange(120), "x": np.zeros(120), "y": np.ones(120)})

    monkeypatch.setattr(app_loading, "project_umap", slow_umap)
    store = DataStore(run_dir)
    assert store.projection_kind == "pca" and "being computed" in store.projection_status
    assert store.poll_projection() is False
    release.set()
    store.wait_for_projection(timeout=10)
    assert store.projection_kind == "umap"
    assert store.map_frame()["y"].eq(1.0).all()


def test_a_pool_too_small_for_umap_gets_pca_and_says_so(tmp_path) -> None:
    store = DataStore(write_run(tmp_path, n=MIN_UMAP_POINTS - 1))
    assert store.projection_kind == "pca" and not store.projection_pending
    assert store.projection_status == "PCA of the embeddings."
