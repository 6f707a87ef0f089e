"""The Panel dashboard: DataStore -> views -> App, and the server that serves it.

* :class:`DataStore` (``store``): one run's scores, the selection controls and
  every view's data; no widgets, so notebooks and tests drive it directly.
* Views (``views``): :class:`HistogramView`, :class:`MapView`,
  :class:`StrataView`, :class:`RedundancyView`, :class:`NeighbourView`,
  :class:`CurvesView`, :class:`SequenceTable`, :class:`SummaryCards`,
  :class:`Controls`, :class:`ExportButtons`, :class:`HighlightUpload`.
* :class:`App` (``dashboard``): the layout; ``App(store)`` displays in a
  notebook, ``App(store).servable()`` in ``panel serve``.
* :func:`serve` (``server``): ``biocoreset serve``.

Names are imported lazily: Panel takes a few seconds to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataStore": "store",
    "App": "dashboard",
    "serve": "server",
    "resolve_run_dir": "data",
    "read_uploaded_ids": "data",
    "NearestSelected": "data",
    "LabelIndex": "data",
    "Controls": "views",
    "CurvesView": "views",
    "ExportButtons": "views",
    "HighlightUpload": "views",
    "HistogramView": "views",
    "MapView": "views",
    "NeighbourView": "views",
    "RedundancyView": "views",
    "SequenceTable": "views",
    "StrataView": "views",
    "SummaryCards": "views",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'biocoreset_viz.app' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"biocoreset_viz.app.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
