"""The registry of selection methods: each selector class under its method name.

``cci``, ``topi``, ``bottomi``, ``random``, ``diversity``, ``identity``: the names
the command line, the dashboard, the evaluation runner and saved selections use.
"""

from __future__ import annotations

from biocoreset_viz.selection.base import BaseSelector
from biocoreset_viz.selection.baselines import EmbeddingDiversity, RandomSelection
from biocoreset_viz.selection.identity import IdentityClustering
from biocoreset_viz.selection.influence import BottomInfluence, CoverageCentric, TopInfluence

METHODS: dict[str, type[BaseSelector]] = {
    cls.method: cls
    for cls in (
        CoverageCentric,
        TopInfluence,
        BottomInfluence,
        RandomSelection,
        EmbeddingDiversity,
        IdentityClustering,
    )
}
