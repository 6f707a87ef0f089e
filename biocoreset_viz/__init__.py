"""biocoreset_viz: influence-guided data pruning of RNA and protein sequence datasets.

Score every sequence's self-influence with a protein/RNA language model, select a
coreset (Top-k Influence, Coverage-Centric Influence, baselines), look at what was
kept and pruned, and test the coreset downstream.

The public names below are imported lazily, so ``import biocoreset_viz`` stays
fast and does not load torch until a model is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BiocoresetError": "errors",
    "InputError": "errors",
    "ModelNotFoundError": "errors",
    "RunDirectoryError": "errors",
    "SequenceRecord": "sequences",
    "SequenceSet": "sequences",
    "detect_molecule": "sequences",
    "iter_sequences": "sequences",
    "read_sequences": "sequences",
    "ScoreTable": "runs",
    "encode_batch": "models",
    "token_budget_batches": "models",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'biocoreset_viz' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"biocoreset_viz.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
