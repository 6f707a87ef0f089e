"""Score variants: which per-sequence score a selector ranks by, including those computed from
a finished pool (the length-adjusted self-influence).

A scored run holds, per sequence, the paper's **self-influence**
``s = Σ_j g_j² / (F_j + λ)`` and, from the same scoring pass, the **loss** alone
and (runs scored since the score variants were added) the **gradient norm**
without the Fisher, ``‖g‖`` (``√s`` with ``F = 1``, ``λ = 0``): the cheap
baselines to compare self-influence against. CCI and Top-I rank by any of
them (:func:`score_values`).

**Length-adjusted** scores are computed here, from the pool, without a model.
Self-influence depends strongly on length (Spearman -0.66 in the RNA demo: a
mean-reduced loss over fewer tokens has larger, noisier gradients), so a
selector ranking by it mostly selects by length, and under equal epochs a
coreset of short sequences sees fewer tokens. Two adjustments
(:func:`length_adjusted`):

* ``isotonic`` (default): the score divided by the *typical score at that
  length*, ``s_i / exp(m(L_i))``, where ``m`` is a monotone (isotonic) fit,
  across the whole pool, of the median ``log s`` at each length (weighted by
  how many sequences have it), increasing or decreasing as the pool's own trend
  is (the sign of the Spearman correlation). Medians of logs, not means: log
  self-influence is skewed, more so for short sequences, and a mean fit would
  leave the adjusted ranks tilted by length. A value of 2 reads "twice as
  influential as is typical for its length". No shape beyond monotone is
  assumed, so a saturating effect (sequences cut at the model's maximum length
  all look alike) is fitted as well as a steady one; a length effect that goes
  down and then up is only removed to its monotone part.
* ``bins``: the score's rank within its length bin (``n_bins`` bins of equal
  count), as a fraction in (0, 1): no fit at all, but a step at every bin edge.

Either way the adjusted score's rank correlation with length is close to 0,
while an effect that has nothing to do with length (e.g. truly atypical
sequences among those of one length) is kept. The names: ``length_adjusted``
is the length-adjusted self-influence; ``<column>_length_adjusted`` adjusts any
other score column (``loss_length_adjusted``, ``gradient_norm_length_adjusted``).

Torch-free (NumPy, SciPy, scikit-learn), so selection and the dashboard use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError

SELF_INFLUENCE = "self_influence"
LENGTH_ADJUSTED = "length_adjusted"
ADJUSTED_SUFFIX = "_length_adjusted"
# score columns a scoring pass writes, in the order the faces list them
SCORE_VARIANT_COLUMNS = (SELF_INFLUENCE, "loss", "gradient_norm")
SCORE_DESCRIPTIONS = {
    SELF_INFLUENCE: "self-influence s = Σ g² / (F + λ), the paper's score",
    LENGTH_ADJUSTED: "self-influence over the typical self-influence at that length",
    "loss": "the per-sequence loss alone",
    "gradient_norm": "the gradient norm without the Fisher, ‖g‖ (√s with F = 1)",
}
AdjustmentMethod = Literal["isotonic", "bins"]
# what the dashboard's menu calls each base score (a length-adjusted one adds a prefix)
_SCORE_LABELS = {
    SELF_INFLUENCE: "self-influence",
    "loss": "loss",
    "gradient_norm": "gradient norm (no Fisher)",
}


def _check_inputs(scores: np.ndarray, lengths: np.ndarray) -> None:
    if scores.ndim != 1 or lengths.shape != scores.shape:
        raise InputError(f"{len(scores)} scores for {len(lengths)} lengths")
    if not len(scores):
        raise InputError("no scores to adjust")
    if not (np.isfinite(scores).all() and np.isfinite(lengths).all()):
        raise InputError("scores and lengths must be finite to adjust for length")
    if (scores < 0).any():
        raise InputError("length adjustment needs scores >= 0 (self-influence, loss, a norm)")


def _isotonic_fit(scores: np.ndarray, lengths: np.ndarray):
    """``(logs, fit)``: the log scores and the isotonic fit of their median at each length."""
    from scipy.stats import spearmanr
    from sklearn.isotonic import IsotonicRegression

    positive = scores[scores > 0]
    floor = positive.min() / 2 if len(positive) else 1.0
    # zeros (a sequence the model already predicts perfectly) sit just below the smallest score
    logs = np.log(np.maximum(scores, floor))
    trend = spearmanr(lengths, logs).statistic if np.ptp(lengths) > 0 else 0.0
    # the median at each length, not the mean: log self-influence is skewed, and more so
    # for short sequences, so a mean fit would leave the adjusted ranks tilted by length
    by_length = pd.DataFrame({"length": lengths, "log": logs}).groupby("length")["log"]
    medians = by_length.median()
    fit = IsotonicRegression(increasing=bool(np.nan_to_num(trend) >= 0), out_of_bounds="clip")
    fit.fit(medians.index.to_numpy(np.float64), medians.to_numpy(), by_length.size().to_numpy())
    return logs, fit


def _isotonic(scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    if not (scores > 0).any():
        return np.ones_like(scores)
    logs, fit = _isotonic_fit(scores, lengths)
    return np.exp(logs - fit.predict(lengths))


def length_trend(scores: Iterable[float], lengths: Iterable[float]) -> pd.DataFrame:
    """The typical score at each length of the pool: what the ``isotonic`` adjustment
    divides by, for a score-vs-length plot.

    Returns:
        ``length`` (each distinct length, ascending), ``typical`` (the fitted typical
        score) and ``count`` (sequences of that length).
    """
    values = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, float)
    sizes = np.asarray(list(lengths) if not isinstance(lengths, np.ndarray) else lengths, float)
    _check_inputs(values, sizes)
    distinct, count = np.unique(sizes, return_counts=True)
    if not (values > 0).any():
        return pd.DataFrame({"length": distinct, "typical": 0.0, "count": count})
    _, fit = _isotonic_fit(values, sizes)
    return pd.DataFrame(
        {"length": distinct, "typical": np.exp(fit.predict(distinct)), "count": count}
    )


def _binned_ranks(scores: np.ndarray, lengths: np.ndarray, n_bins: int) -> np.ndarray:
    # equal-count bins by length rank; equal lengths always share a bin
    length_rank = pd.Series(lengths).rank(method="min").to_numpy() - 1
    bins = np.minimum((length_rank * n_bins / len(lengths)).astype(np.int64), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "score": scores})
    ranks = frame.groupby("bin")["score"].rank(method="average")
    counts = frame.groupby("bin")["score"].transform("size")
    return ((ranks - 0.5) / counts).to_numpy(np.float64)


def length_adjusted(
    scores: Iterable[float],
    lengths: Iterable[float],
    *,
    method: AdjustmentMethod = "isotonic",
    n_bins: int = 20,
) -> np.ndarray:
    """Scores with the pool's length effect removed (see the module docstring).

    Args:
        scores: ``(N,)`` scores >= 0 of the whole pool (the fit is across it).
        lengths: ``(N,)`` their sequences' lengths.
        method: ``"isotonic"`` (score over the typical score at that length) or
            ``"bins"`` (rank within ``n_bins`` equal-count length bins).
        n_bins: bins of ``"bins"``.

    Returns:
        ``(N,)`` float64, > 0 (except scores of 0 under ``"isotonic"``, which stay
        near 0): larger is still more influential.

    Raises:
        InputError: mismatched, empty, negative or non-finite inputs.
        ConfigError: an unknown method or ``n_bins < 1``.
    """
    values = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, float)
    sizes = np.asarray(list(lengths) if not isinstance(lengths, np.ndarray) else lengths, float)
    _check_inputs(values, sizes)
    if method == "isotonic":
        return _isotonic(values, sizes)
    if method == "bins":
        if not isinstance(n_bins, int | np.integer) or n_bins < 1:
            raise ConfigError(f"n_bins must be an integer >= 1, got {n_bins!r}")
        return _binned_ranks(values, sizes, int(n_bins))
    raise ConfigError(f"method must be 'isotonic' or 'bins', got {method!r}")


def length_correlation(scores: Iterable[float], lengths: Iterable[float]) -> float:
    """Spearman correlation of scores with length (NaN when either is constant)."""
    from scipy.stats import spearmanr

    values, sizes = np.asarray(list(scores), float), np.asarray(list(lengths), float)
    if np.ptp(values) == 0 or np.ptp(sizes) == 0:
        return float("nan")
    return float(spearmanr(values, sizes).statistic)


def adjusted_column(name: str) -> str | None:
    """The score column a length-adjusted variant adjusts, or ``None`` for another name."""
    if name == LENGTH_ADJUSTED:
        return SELF_INFLUENCE
    if name.endswith(ADJUSTED_SUFFIX):
        return name[: -len(ADJUSTED_SUFFIX)]
    return None


def score_label(name: str) -> str:
    """A score's name in plain words, e.g. ``"length-adjusted self-influence"``."""
    if name == LENGTH_ADJUSTED:
        return f"length-adjusted {_SCORE_LABELS[SELF_INFLUENCE]}"
    if name.endswith(ADJUSTED_SUFFIX):
        base = name.removesuffix(ADJUSTED_SUFFIX)
        return f"length-adjusted {_SCORE_LABELS.get(base, base)}"
    return _SCORE_LABELS.get(name, name)


def available_scores(columns: Iterable[str]) -> list[str]:
    """The score variants a table with these columns offers: its score columns and,
    with a ``length`` column, their length-adjusted versions."""
    present = set(columns)
    scored = [c for c in SCORE_VARIANT_COLUMNS if c in present]
    if "length" not in present:
        return scored
    adjusted = [LENGTH_ADJUSTED if c == SELF_INFLUENCE else c + ADJUSTED_SUFFIX for c in scored]
    return [*scored, *adjusted]


def columns_for(name: str) -> list[str]:
    """The score-table columns :func:`score_values` needs for variant ``name``."""
    base = adjusted_column(name)
    return [name] if base is None else [base, "length"]


def score_values(frame: pd.DataFrame, name: str = SELF_INFLUENCE) -> np.ndarray:
    """The ``(N,)`` float64 values of score variant ``name`` for a pool's score table.

    Args:
        frame: a score table (``ScoreTable.frame``) of the whole pool.
        name: a score column (``self_influence``, ``loss``, ``gradient_norm``) or a
            length-adjusted variant (``length_adjusted``, ``<column>_length_adjusted``),
            fitted across ``frame`` with the ``isotonic`` method.

    Raises:
        ConfigError: a variant the table cannot give (names the ones it can).
    """
    if name not in known_scores():
        raise ConfigError(f"unknown score {name!r}; known: {', '.join(known_scores())}")
    base = adjusted_column(name)
    missing = [c for c in columns_for(name) if c not in frame.columns]
    if missing:
        offered = available_scores(frame.columns)
        raise ConfigError(
            f"score {name!r} needs the column(s) {', '.join(missing)}, which these scores lack; "
            f"available: {', '.join(offered)}"
        )
    if base is None:
        return frame[name].to_numpy(np.float64)
    return length_adjusted(frame[base].to_numpy(np.float64), frame["length"].to_numpy(np.float64))


def known_scores() -> list[str]:
    """Every score variant name (what a run scored by this version offers)."""
    return available_scores([*SCORE_VARIANT_COLUMNS, "length"])
