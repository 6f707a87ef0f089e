"""Settings dataclasses' shared pieces: per-field help text and its printout.

Every settings class of the package (:class:`~biocoreset_viz.influence.InfluenceConfig`,
:class:`~biocoreset_viz.evaluation.EvaluationConfig` ...) documents each field in
its ``help`` metadata, so the command line, the docs and ``.help()`` say the same.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def help_metadata(text: str) -> dict[str, str]:
    """The ``metadata`` of a documented dataclass field: ``field(..., metadata=help_metadata(...))``."""
    return {"help": text}


def describe_fields(cls: Any) -> str:
    """One line per field of a settings dataclass: name, default and help text."""
    lines = []
    for item in dataclasses.fields(cls):
        if item.default is not dataclasses.MISSING:
            default = repr(item.default)
        elif item.default_factory is not dataclasses.MISSING:
            default = repr(item.default_factory())
        else:
            default = "required"
        lines.append(f"{item.name} (default {default}): {item.metadata.get('help', '')}")
    return "\n".join(lines)
