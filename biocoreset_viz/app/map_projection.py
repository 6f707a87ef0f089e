"""The dashboard's map: which 2-D projection it shows (a cached UMAP, PCA, a UMAP computed
in the background) and the region drawn on it (a mixin of the store).

The store keeps its data (``embeddings``, ``frame``, ``run_dir``, ``table``,
``n_total``, ``umap_settings``) and says which columns a point's tooltip shows
(``hover_columns``); this part turns a projection into the map's points and lists the
points inside a box or lasso.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import numpy as np
import pandas as pd
import param

from biocoreset_viz.app.loading import umap_job
from biocoreset_viz.plots import map_frame
from biocoreset_viz.projection import (
    find_projection,
    pca_coordinates,
    points_in_polygon,
    read_projection,
)

# smaller pools get no UMAP map (too few neighbours), only PCA
MIN_UMAP_POINTS = 16


class MapProjection(param.Parameterized):
    """The map's projection, its status line and the region drawn on it."""

    projection_kind = param.Selector(
        default="none", objects=["none", "pca", "umap"], doc="What the map currently shows."
    )
    projection_status = param.String(default="", doc="One line about the map's projection.")
    brushed = param.Array(
        default=np.empty(0, dtype=np.int64), doc="Indices inside the box or lasso drawn on the map."
    )

    def _init_projection(self, projection: pd.DataFrame | None, umap: bool) -> None:
        if projection is not None:
            self.use_projection(projection, "umap")
            return
        if self.embeddings is None:
            self.projection_status = "This run has no embeddings: no map."
            return
        if self.run_dir is not None:
            found = find_projection(self.run_dir, self.umap_settings)
            if found is not None:
                self.use_projection(read_projection(found, self.n_total), "umap")
                return
        coordinates = pca_coordinates(self.embeddings)
        pca = pd.DataFrame(
            {
                "index": self.frame["index"].to_numpy(),
                "x": coordinates[:, 0],
                "y": coordinates[:, 1],
            }
        )
        self.use_projection(pca, "pca")
        if umap and self.n_total >= MIN_UMAP_POINTS:
            self.start_umap()
        else:
            self.projection_status = "PCA of the embeddings."

    def use_projection(self, projection: pd.DataFrame, kind: str) -> None:
        """Show ``projection`` (``index``, ``x``, ``y``) on the map; ``kind`` is ``pca`` or ``umap``."""
        self._map_base = map_frame(projection, self.frame, None, hover=self.hover_columns())
        self._map_coordinates = (
            self._map_base["x"].to_numpy(np.float64),
            self._map_base["y"].to_numpy(np.float64),
        )
        settings = self.umap_settings
        self.projection_status = (
            f"UMAP of the embeddings ({settings.metric}, n_neighbors={settings.n_neighbors}, "
            f"min_dist={settings.min_dist})."
            if kind == "umap"
            else "PCA of the embeddings."
        )
        self.brushed = np.empty(0, dtype=np.int64)
        self.projection_kind = kind

    def start_umap(self) -> Future:
        """Compute (or reuse) the UMAP map in the background; :meth:`poll_projection` applies it."""
        source: Any = self.run_dir if self.run_dir is not None else self.table
        key = str(self.run_dir) if self.run_dir is not None else id(self.table)
        job = umap_job(source, key, self.umap_settings)
        self._umap_job = job
        self.projection_status = "PCA of the embeddings; UMAP is being computed in the background…"
        return job

    @property
    def projection_pending(self) -> bool:
        """Whether a background UMAP is awaited (:meth:`poll_projection` applies it)."""
        return self._umap_job is not None

    def poll_projection(self) -> bool:
        """Apply a finished UMAP computation; ``True`` once there is nothing left to wait for."""
        job = self._umap_job
        if job is None:
            return True
        if not job.done():
            return False
        self._umap_job = None
        error = job.exception()
        if error is not None:
            self.projection_status = f"PCA of the embeddings (UMAP failed: {error})."
        else:
            self.use_projection(job.result(), "umap")
        return True

    def wait_for_projection(self, timeout: float | None = None) -> None:
        """Block until the background UMAP is done and apply it (for notebooks and tests)."""
        if self._umap_job is not None:
            self._umap_job.exception(timeout=timeout)
        self.poll_projection()

    def brush_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """List the sequences inside a box drawn on the map."""
        if self._map_coordinates is None:
            return
        x, y = self._map_coordinates
        left, right = sorted((x0, x1))
        bottom, top = sorted((y0, y1))
        inside = (x >= left) & (x <= right) & (y >= bottom) & (y <= top)
        self.brushed = np.flatnonzero(inside)

    def brush_lasso(self, xs: Any, ys: Any) -> None:
        """List the sequences inside a lasso polygon drawn on the map."""
        if self._map_coordinates is None:
            return
        x, y = self._map_coordinates
        self.brushed = np.flatnonzero(points_in_polygon(x, y, xs, ys))

    def clear_brush(self) -> None:
        self.brushed = np.empty(0, dtype=np.int64)
