"""The subsets that are pretrained on: which pool sequences each (subset, seed) gets, and its budget.

Coresets and baselines are drawn with the package's selectors, their parameters
mapped once by :func:`biocoreset_viz.selection.controls.selector_params`;
``random<K>x`` is ``K`` times the coreset, ``full`` the whole pretraining pool,
``<method>-<score>`` (e.g. ``cci-length_adjusted``, ``topi-loss``) a selector
ranking by another score variant (:mod:`biocoreset_viz.score_variants`), and
any other name a selection saved in ``RUN_DIR/selections/``. A subset that
equals one drawn before it for the same seed is marked as its alias, so it is
trained once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.config import RANDOM_MULTIPLE, EvaluationConfig
from biocoreset_viz.score_variants import known_scores, score_values

SELECTOR_SUBSETS = ("cci", "topi", "bottomi", "random", "diversity")
# selectors that rank by a score, and so can take another score variant
SCORED_SUBSETS = ("cci", "topi", "bottomi")


@dataclass
class SubsetDraw:
    """One subset for one seed: which pool sequences, and how they were chosen."""

    subset: str
    seed: int
    indices: np.ndarray  # into the run's pool, sorted
    method: str
    params: dict[str, Any]
    alias_of: str | None = None


def _saved_selection(
    name: str, seed: int, run_dir: Path, n_total: int, pretrain: np.ndarray
) -> SubsetDraw:
    """A selection saved in the run, restricted to the pretraining pool."""
    from biocoreset_viz.selection import Selection

    saved = Selection.load(run_dir, name)
    if saved.n_total != n_total:
        raise ConfigError(
            f"selection {name!r} was made on a pool of {saved.n_total}, not this run's {n_total}"
        )
    chosen = np.intersect1d(saved.indices, pretrain)
    params = {"selection": name, "dropped": len(saved) - len(chosen)}
    return SubsetDraw(name, seed, chosen, saved.method, params)


def draw_subset(
    name: str,
    seed: int,
    *,
    scores: np.ndarray,
    pretrain: np.ndarray,
    config: EvaluationConfig,
    embeddings: np.ndarray | None = None,
    run_dir: Path | None = None,
    score_frame: pd.DataFrame | None = None,
) -> SubsetDraw:
    """The pool indices of subset ``name`` for ``seed`` (see :mod:`biocoreset_viz.evaluation`).

    Args:
        name: a subset name.
        seed: seeds CCI's and the random draws.
        scores: self-influence of the whole pool, ``(N,)``.
        pretrain: indices of the pretraining pool.
        config: pruning rate and CCI settings.
        embeddings: ``(N, D)`` pool embeddings, for ``diversity``.
        run_dir: where saved selections are looked up.
        score_frame: the run's score table (``ScoreTable.frame``), for subsets
            ``<method>-<score>`` that rank by another score variant.

    Raises:
        ConfigError: an unknown subset name or score variant.
    """
    from biocoreset_viz.selection import Selection, coreset_size, make_selector
    from biocoreset_viz.selection.controls import selector_params

    n_pool = len(pretrain)
    n = coreset_size(n_pool, config.pruning_rate, None)
    multiple = RANDOM_MULTIPLE.fullmatch(name)
    if name == "full":
        return SubsetDraw(name, seed, np.sort(pretrain), "full", {})
    variant = _score_variant(name, score_frame)
    if variant is not None:
        scores = score_values(score_frame, variant[1])
    if multiple or name in SELECTOR_SUBSETS or variant is not None:
        method = "random" if multiple else (variant[0] if variant else name)
        controls = {
            "n_select": min(int(multiple.group(1)) * n, n_pool) if multiple else n,
            "random_state": seed,
            "hard_cutoff": config.hard_cutoff,
            "n_strata": config.n_strata,
        }
        params = selector_params(method, controls)
        selector = make_selector(method, **params)
        chosen = selector.fit_select(
            scores[pretrain], None if embeddings is None else embeddings[pretrain]
        )
        if variant is not None:
            params = {**params, "score": variant[1]}
        return SubsetDraw(name, seed, np.sort(pretrain[chosen]), method, params)
    if run_dir is not None and Selection.exists(run_dir, name):
        return _saved_selection(name, seed, run_dir, len(scores), pretrain)
    raise ConfigError(
        f"unknown subset {name!r}: use cci, topi, bottomi, diversity, random, random<K>x, full, "
        "<method>-<score> (e.g. cci-length_adjusted) or the name of a selection saved in "
        "RUN_DIR/selections"
    )


def _score_variant(name: str, score_frame: pd.DataFrame | None) -> tuple[str, str] | None:
    """``(method, score)`` of a subset ``<method>-<score>``, or ``None`` for another name.

    Raises:
        ConfigError: a known method with a score these scores cannot give.
    """
    method, dash, score = name.partition("-")
    if not dash or method not in SCORED_SUBSETS or score not in known_scores():
        return None
    if score_frame is None:
        raise ConfigError(f"subset {name!r} ranks by score {score!r}: give the run's score table")
    return method, score


def draw_subsets(
    names: Sequence[str], seeds: Sequence[int], draw: Callable[[str, int], SubsetDraw]
) -> list[SubsetDraw]:
    """Every (subset, seed), seed by seed and in the order of ``names``, aliases marked.

    Args:
        names: the subsets.
        seeds: the seeds.
        draw: draws one subset for one seed (:func:`draw_subset` with the run's
            scores, pool and settings bound).

    Within a seed, a subset with exactly the sequences of one drawn before it
    gets ``alias_of`` set. The full pool is drawn first, so that a random draw of
    all of it is its alias, not the reverse.

    Raises:
        ConfigError: an unknown subset, or one with no sequence in the pretraining pool.
    """
    draws: list[SubsetDraw] = []
    for seed in seeds:
        seen: dict[bytes, str] = {}
        of_seed: dict[str, SubsetDraw] = {}
        for name in sorted(names, key=lambda n: n != "full"):
            subset = draw(name, seed)
            if not len(subset.indices):
                raise ConfigError(f"subset {name!r} has no sequence in the pretraining pool")
            key = subset.indices.tobytes()
            subset.alias_of = seen.get(key)
            seen.setdefault(key, name)
            of_seed[name] = subset
        draws += [of_seed[name] for name in names]  # run in the order asked for
    return draws


def planned_steps(lengths: np.ndarray, config: EvaluationConfig) -> int:
    """Optimiser steps of one pass over sequences of these lengths (as ``train_mlm`` batches)."""
    from biocoreset_viz.models import token_budget_batches

    capped = np.minimum(np.asarray(lengths, dtype=np.int64), config.max_length)
    return len(token_budget_batches(capped, config.max_tokens, extra_tokens=2))


def epoch_tokens(lengths: np.ndarray, config: EvaluationConfig) -> int:
    """Training tokens of one pass over sequences of these lengths (what ``train_mlm``
    counts in ``tokens_seen``: the residues kept, BOS and EOS)."""
    capped = np.minimum(np.asarray(lengths, dtype=np.int64), config.max_length)
    return int((capped + 2).sum())
