"""Lazy public names for the package's ``__init__`` modules.

``import biocoreset_viz`` (or one of its stage packages) must stay cheap: torch,
Panel and scikit-learn take seconds to import. A package lists its public names
and the module defining each; a name is imported the first time it is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package with lazily imported names.

    Args:
        package: the package's ``__name__``.
        exports: public name -> the module that defines it, absolute
            (``biocoreset_viz.coverage``) or relative to the package (``.store``).

    Usage, at the end of a package's ``__init__``::

        __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
