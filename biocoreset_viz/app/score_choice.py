"""The dashboard's score choice: which score variant the store ranks by, and its values.

A run's scores hold the paper's self-influence and, from the same scoring pass,
the loss alone and (runs scored since it was added) the gradient norm without
the Fisher; with lengths, each has a length-adjusted version
(:mod:`biocoreset_viz.score_variants`). :class:`ScoreChoice` offers those the
run allows (a length adjustment needs finite scores >= 0) and computes each
chosen variant once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.score_variants import (
    SELF_INFLUENCE,
    adjusted_column,
    available_scores,
    score_label,
    score_values,
)


def score_choices(frame: pd.DataFrame) -> list[str]:
    """The score variants a score table offers the dashboard."""

    def offered(name: str) -> bool:
        base = adjusted_column(name)
        if base is None:
            return True
        values = frame[base].to_numpy(np.float64)
        return bool(np.isfinite(values).all() and (values >= 0).all())

    return [name for name in available_scores(frame.columns) if offered(name)]


class ScoreChoice(param.Parameterized):
    """The ``score`` control and the values of each variant chosen (a mixin of the store)."""

    score = param.Selector(
        default=SELF_INFLUENCE,
        objects=[SELF_INFLUENCE],
        doc="The score the method ranks by and the views show: self-influence (the paper's), "
        "length_adjusted, the loss alone, the gradient norm without the Fisher "
        "(biocoreset_viz.score_variants); the choices are those the run's scores allow.",
    )

    def _init_score(self, frame: pd.DataFrame, self_influence: np.ndarray, score: str) -> None:
        """Offer the run's score variants and start with ``score``.

        Raises:
            ConfigError: a score the run does not offer.
        """
        choices = score_choices(frame)
        if score not in choices:
            raise ConfigError(f"score {score!r} is not offered by this run; have {choices}")
        self.param.score.objects = {score_label(name): name for name in choices}
        self.score = score
        self._score_frame = frame
        self._score_arrays: dict[str, np.ndarray] = {SELF_INFLUENCE: self_influence}

    def score_array(self, score: str) -> np.ndarray:
        """The ``(N,)`` float values of a score variant of this run (computed once)."""
        if score not in self._score_arrays:
            self._score_arrays[score] = score_values(self._score_frame, score)
        return self._score_arrays[score]
