"""The Panel dashboard: DataStore -> views -> App, and the server that serves it.

* :class:`DataStore` (``store``): one run's scores, the selection controls and
  every view's data; no widgets, so notebooks and tests drive it directly.
* What is read once per process (``loading``): the score table, the label and
  neighbour indexes, the learning curves.
* Figures (``views``): :class:`HistogramView`, :class:`LengthView`,
  :class:`MapView`, :class:`StrataView`, :class:`RedundancyView`,
  :class:`NeighbourView`, :class:`CurvesView`; text (``tables``):
  :class:`SequenceTable`, :class:`SummaryCards`, :class:`ReadingGuide`; the
  sidebar (``sidebar``): :class:`Controls`, :class:`ExportButtons`,
  :class:`HighlightUpload` (with the browser-side size check of ``upload``).
* :class:`App` (``dashboard``): the layout; ``App(store)`` displays in a
  notebook, ``App(store).servable()`` in ``panel serve``.
* :func:`serve` (``server``): ``biocoreset serve``; the runs under its root
  (``catalog``): :func:`find_runs`; the served app's guards (``guards``):
  :func:`resolve_run_dir`, :func:`read_uploaded_ids`; which requests it answers
  (``hosts``): :class:`HostCheck`.
* Notebooks (``notebook``): :func:`notebook_extension`, every asset local.

:class:`~biocoreset_viz.coverage.LabelIndex` and
:class:`~biocoreset_viz.coverage.NearestSelected`, which make the store fast,
live in :mod:`biocoreset_viz.coverage` and are importable from here too.

Names are imported lazily: Panel takes a few seconds to import.
"""

from __future__ import annotations

from biocoreset_viz.lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "DataStore": ".store",
    "App": ".dashboard",
    "serve": ".server",
    "resolve_run_dir": ".guards",
    "read_uploaded_ids": ".guards",
    "NearestSelected": "biocoreset_viz.coverage",
    "LabelIndex": "biocoreset_viz.coverage",
    "CurvesView": ".views",
    "HistogramView": ".views",
    "LengthView": ".views",
    "MapView": ".views",
    "NeighbourView": ".views",
    "RedundancyView": ".views",
    "StrataView": ".views",
    "SequenceTable": ".tables",
    "SummaryCards": ".tables",
    "ReadingGuide": ".tables",
    "find_runs": ".catalog",
    "HostCheck": ".hosts",
    "notebook_extension": ".notebook",
    "Controls": ".sidebar",
    "ExportButtons": ".sidebar",
    "HighlightUpload": ".sidebar",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
