"""Coreset selection from self-influence scores: Top-I, CCI and baselines.

Every selector has the scikit-learn shape (:mod:`~biocoreset_viz.selection.base`):
parameters are stored untouched by ``__init__``, checked by
``fit(scores, embeddings=None)``, and the results live in attributes with a
trailing underscore (``indices_``, ``n_selected_`` ...). Coreset size:
``n_select`` when given, else ``n = round((1 - pruning_rate) * N)`` rounded half up.

Selectors (design section 2):

* :class:`TopInfluence`: the n largest scores, ties broken by index (lower first).
* :class:`BottomInfluence`: the n smallest scores ("easiest"), same tie order.
* :class:`CoverageCentric` (CCI): hard cutoff of the most influential sequences,
  strata over the remaining score range, balanced budgets, uniform draws.
* :class:`RandomSelection`: n uniformly without replacement.
* :class:`EmbeddingDiversity`: k-means cluster-and-sample or k-center greedy on
  float32 embeddings.
* :class:`IdentityClustering`: MMseqs2 sequence-identity clusters, sampled
  round-robin (needs the ``mmseqs`` program; see :func:`find_mmseqs`).

The modules, one job each:

* ``checks``: input checks (scores, embeddings, fractions) and the coreset size;
* ``engine``: the O(N) engine (sampling, budgets, order statistics, strata, threads);
* ``base``: the scikit-learn-style plumbing of every selector;
* ``influence``: Top-I, Bottom-I and CCI; ``baselines``: random and embedding
  diversity; ``identity``: MMseqs2 clustering;
* ``methods``: the selectors by method name; ``controls``: the one mapping from
  the controls users move (``--hard-cutoff``, the β slider) to selector parameters;
* ``record``: the :class:`Selection` record; ``exports``: its FASTA, CSV and JSON bytes;
* ``api``: :func:`make_selector`, :func:`select_from_run` and :func:`with_score`.

The names below are imported lazily: ``import biocoreset_viz.selection`` (or its
``controls`` module) loads no selector, numpy or pandas until one is used, and
never torch.
"""

from __future__ import annotations

from biocoreset_viz.lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "BaseSelector": "base",
    "TopInfluence": "influence",
    "BottomInfluence": "influence",
    "CoverageCentric": "influence",
    "RandomSelection": "baselines",
    "EmbeddingDiversity": "baselines",
    "round_robin": "baselines",
    "IdentityClustering": "identity",
    "cluster_by_identity": "identity",
    "find_mmseqs": "identity",
    "check_scores": "checks",
    "coreset_size": "checks",
    "StrataKind": "engine",
    "Strata": "engine",
    "stratify": "engine",
    "allocate_budgets": "engine",
    "sample_sorted": "engine",
    "METHODS": "methods",
    "CONTROLS": "controls",
    "DEFAULT_SEED": "controls",
    "SelectorControl": "controls",
    "accepted_parameters": "controls",
    "applies_to": "controls",
    "selector_params": "controls",
    "make_selector": "api",
    "select_from_run": "api",
    "with_score": "api",
    "align_sequences": "api",  # the old name of biocoreset_viz.sequences.sequences_for_ids
    "Selection": "record",
    "SELECTION_FORMAT": "record",
    "SELECTION_VERSION": "record",
    "STRATA_COLUMNS": "record",
    "default_name": "record",
    "list_selections": "record",
}
# names kept importable from here although they are defined elsewhere
_ELSEWHERE = {
    "MMseqsNotFoundError": "biocoreset_viz.errors",
    "SELECTIONS_DIR": "biocoreset_viz.runs",
}

__all__ = sorted([*_EXPORTS, *_ELSEWHERE])


__getattr__, __dir__ = lazy_exports(
    __name__, {**{k: f".{m}" for k, m in _EXPORTS.items()}, **_ELSEWHERE}
)
