"""Settings dataclasses' shared pieces: per-field help text and its printout.

Every settings class of the package (:class:`~biocoreset_viz.influence.InfluenceConfig`,
:class:`~biocoreset_viz.evaluation.EvaluationConfig` ...) documents each field in
its ``help`` metadata, so the command line, the docs and ``.help()`` say the same.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from biocoreset_viz.errors import ConfigError

T = TypeVar("T")


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


class DocumentedSettings:
    """``help()``, ``to_dict()`` and ``from_dict()`` of a settings dataclass (mixed in)."""

    @classmethod
    def help(cls) -> str:
        """Every field with its default and documentation."""
        return describe_fields(cls)

    def to_dict(self) -> dict[str, Any]:
        """Every field, as JSON-ready values (what run directories record)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], values: Mapping[str, Any]) -> T:
        """The settings of a recorded dict; keys this version does not know are ignored."""
        names = {item.name for item in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in values.items() if name in names})


def check_device(device: Any) -> str:
    """A device name the settings accept: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise ConfigError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}"
        )
    return device
