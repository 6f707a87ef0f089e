"""The scikit-learn-style plumbing every selector shares.

A selector is a dataclass: its fields are the constructor parameters, stored
untouched by ``__init__`` and checked by ``fit(scores, embeddings=None)``; the
results live in attributes with a trailing underscore (``indices_``,
``n_selected_`` ...). Randomness comes only from ``random_state`` (an int seed, a
:class:`numpy.random.Generator` or ``None``).

Coreset size: ``n_select`` when given, else ``n = round((1 - pruning_rate) * N)``
rounded half up. ``indices_`` are always sorted ascending (input order), int64.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection.checks import (
    check_embedding_rows,
    check_embeddings,
    check_size_limits,
    coreset_size,
    pool_size,
)

if TYPE_CHECKING:
    from biocoreset_viz.selection.record import Selection


@dataclass(eq=False, repr=False)
class BaseSelector:
    """Shared plumbing: ``fit``, ``get_params``, ``set_params``, ``repr``, ``to_selection``.

    Subclasses are dataclasses too (``@dataclass(eq=False, repr=False)``: selectors
    compare by identity, as scikit-learn estimators do) and implement
    ``_fit(scores, n_total, n, embeddings, **extra)`` returning sorted int64 indices.
    Scikit-learn itself is not imported (it takes seconds to load);
    ``sklearn.base.clone`` works on these objects all the same.

    Args:
        pruning_rate: fraction alpha of the pool to remove, in [0, 1).
        n_select: coreset size n instead of ``pruning_rate``.
    """

    method: ClassVar[str] = ""
    uses_scores: ClassVar[bool] = True
    uses_embeddings: ClassVar[bool] = False

    pruning_rate: float | None = None
    n_select: int | None = None

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as stored."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> BaseSelector:
        """Set constructor parameters (checked at the next ``fit``).

        Raises:
            ConfigError: a name the selector does not take.
        """
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ConfigError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        shown = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not (value is defaults.get(name) or _same(value, defaults.get(name)))
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def fit(self, scores: Any, embeddings: Any = None) -> BaseSelector:
        """Select the coreset.

        Args:
            scores: self-influence per sequence, ``(N,)``.
            embeddings: ``(N, D)`` embeddings; needed by embedding-based selectors,
                otherwise only checked for length.

        Sets ``indices_`` (sorted int64), ``n_selected_`` and ``n_samples_``.

        Raises:
            InputError: bad scores or embeddings (NaN, empty, wrong shape).
            ConfigError: parameters out of range.
        """
        return self._fit_checked(scores, embeddings)

    def _fit_checked(self, scores: Any, embeddings: Any, **extra: Any) -> BaseSelector:
        checked, n_total = pool_size(scores, embeddings)
        if self.uses_scores and checked is None:
            raise ConfigError(f"{type(self).__name__} needs scores, got None")
        matrix = None
        if embeddings is not None:
            if self.uses_embeddings:
                matrix = check_embeddings(embeddings, n_total)
            else:
                check_embedding_rows(embeddings, n_total)
        elif self.uses_embeddings:
            raise ConfigError(f"{type(self).__name__} needs embeddings, got None")
        n = coreset_size(n_total, self.pruning_rate, self.n_select)
        check_size_limits(self.get_params(), n_total, n)
        indices = self._fit(checked, n_total, n, matrix, **extra)
        self.indices_ = indices
        self.n_selected_ = len(indices)
        self.n_samples_ = n_total
        return self

    def _fit(
        self, scores: np.ndarray | None, n_total: int, n: int, embeddings: np.ndarray | None
    ) -> np.ndarray:
        raise NotImplementedError

    def fit_select(self, scores: Any, embeddings: Any = None) -> np.ndarray:
        """``fit`` and return ``indices_``."""
        return self.fit(scores, embeddings).indices_

    @property
    def seed(self) -> int | None:
        """The integer seed behind ``random_state``, or ``None``."""
        state = getattr(self, "random_state", None)
        return int(state) if isinstance(state, int | np.integer) else None

    def to_selection(
        self,
        ids: Sequence[str] | np.ndarray | None = None,
        *,
        name: str | None = None,
        source_run: str | Path | None = None,
    ) -> Selection:
        """The fitted result as a :class:`~biocoreset_viz.selection.record.Selection`.

        Args:
            ids: ids of the whole pool (length N), in index order.
            name: the selection's name (default from the method and parameters).
            source_run: the run directory the scores came from.
        """
        from biocoreset_viz.selection.record import Selection

        return Selection.from_selector(self, ids=ids, name=name, source_run=source_run)

    def _summary(self) -> dict[str, Any]:
        """Fitted facts beyond the indices, recorded in a Selection."""
        return {}

    def _strata_table(self) -> pd.DataFrame | None:
        return None


def _same(left: Any, right: Any) -> bool:
    try:
        return bool(left == right)
    except (TypeError, ValueError):
        return False
