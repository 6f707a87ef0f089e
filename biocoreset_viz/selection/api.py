"""Selecting by method name: a selector from its name and parameters, and a coreset from a run.

The faces (command line, dashboard, evaluation runner) name a method and hand
over control values; :mod:`biocoreset_viz.selection.controls` turns those into
selector parameters, and :func:`make_selector` builds the selector.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.selection.base import BaseSelector
from biocoreset_viz.selection.checks import check_not_empty, coreset_size
from biocoreset_viz.selection.controls import accepted_parameters
from biocoreset_viz.selection.identity import IdentityClustering
from biocoreset_viz.selection.methods import METHODS
from biocoreset_viz.selection.record import Selection


def make_selector(method: str, **params: Any) -> BaseSelector:
    """A selector by method name (``cci``, ``topi``, ``bottomi``, ``random``,
    ``diversity``, ``identity``); ``params`` not taken by that method are ignored
    when ``None``.

    Raises:
        ConfigError: unknown method, or a non-``None`` parameter the method lacks.
    """
    accepted = accepted_parameters(method)
    unknown = sorted(k for k, v in params.items() if k not in accepted and v is not None)
    if unknown:
        raise ConfigError(f"method {method!r} takes no parameter {', '.join(unknown)}")
    return METHODS[method](**{k: v for k, v in params.items() if k in accepted})


def select_from_run(
    run_dir: str | Path,
    method: str = "cci",
    *,
    name: str | None = None,
    save: bool = True,
    sequences: Any = None,
    allow_partial: bool = False,
    score: str = "self_influence",
    **params: Any,
) -> Selection:
    """Select a coreset from a run directory's scores and (by default) save it there.

    Args:
        run_dir: a run directory with score shards.
        method: a key of :data:`~biocoreset_viz.selection.methods.METHODS`.
        name: the selection's name (default from the method and parameters).
        save: write ``RUN_DIR/selections/<name>.json``.
        sequences: the pool's sequences, needed by ``identity`` (a SequenceSet or a
            mapping id -> sequence; looked up by the scored ids).
        allow_partial: select from the intact shards of an unfinished or damaged
            run instead of refusing it; the selection's indices stay positions in the
            whole pool, and its ``partial`` entry (saved in its manifest) records
            what was missing. Its default name ends in ``-partial``.
        score: the score variant the selector ranks by
            (:mod:`biocoreset_viz.score_variants`): ``self_influence`` (the paper),
            ``length_adjusted``, ``loss``, ``gradient_norm``,
            ``<column>_length_adjusted``; recorded in the selection's ``summary``,
            and its default name ends in ``-<score>`` for any but self-influence.
        **params: the selector's parameters (``pruning_rate``, ``n_select``,
            ``hard_cutoff``, ``n_strata``, ``strata``, ``random_state`` ...).

    Raises:
        RunDirectoryError: not a run directory, or no embeddings for ``diversity``.
        ConfigError: bad parameters (an empty coreset included), or no ``sequences``
            for ``identity``.
        InputError: a scored id without a sequence.
    """
    from biocoreset_viz.runs import ScoreTable
    from biocoreset_viz.score_variants import SELF_INFLUENCE, columns_for, known_scores
    from biocoreset_viz.sequences import sequences_for_ids

    if score not in known_scores():
        raise ConfigError(f"unknown score {score!r}; known: {', '.join(known_scores())}")
    selector = make_selector(method, **params)
    try:
        table = ScoreTable.load(
            run_dir,
            embeddings=selector.uses_embeddings,
            columns=[c for c in columns_for(score) if c != SELF_INFLUENCE],
            allow_partial=allow_partial,
        )
    except ConfigError as error:  # a column the run was scored without
        raise ConfigError(
            f"score {score!r}: {error} (runs scored before gradient_norm was added lack it: "
            "rescore for it)"
        ) from error
    scores = _score_of(table, score)
    n = coreset_size(len(table), selector.pruning_rate, selector.n_select)
    check_not_empty(n, len(table), selector.pruning_rate)
    if selector.uses_embeddings and table.embeddings is None:
        raise RunDirectoryError(f"{run_dir}: the scores hold no embeddings (needed by {method})")
    if isinstance(selector, IdentityClustering):
        if sequences is None:
            raise ConfigError("sequences: method 'identity' needs the scored sequences")
        pool = sequences_for_ids(table.ids, sequences, role="scored")
        selector.fit(scores, sequences=pool)
    else:
        selector.fit(scores, table.embeddings)
    selection = with_score(
        selector.to_selection(table.ids, name=name, source_run=Path(run_dir)), score, name
    )
    if not table.status.complete:
        selection = _in_the_whole_pool(selection, table, name)
    if save:
        selection.save(run_dir)
    return selection


def with_score(selection: Selection, score: str, name: str | None = None) -> Selection:
    """``selection`` stamped with the score variant it ranked by: ``summary["score"]`` and a
    default name ending in ``-<score>``; unchanged for self-influence (the paper's score)."""
    from biocoreset_viz.score_variants import SELF_INFLUENCE

    if score == SELF_INFLUENCE:
        return selection
    return dataclasses.replace(
        selection,
        name=name or f"{selection.name}-{score}",
        summary={**selection.summary, "score": score},
    )


def _score_of(table: Any, score: str) -> Any:
    """The ``(N,)`` values of score variant ``score`` of a loaded score table."""
    from biocoreset_viz.score_variants import SELF_INFLUENCE, score_values

    return table.scores if score == SELF_INFLUENCE else score_values(table.frame, score)


def _in_the_whole_pool(selection: Selection, table: Any, name: str | None) -> Selection:
    """A selection made from a partial table, its indices turned into positions in
    the whole pool and stamped ``partial``."""
    positions = table.frame["index"].to_numpy()
    return dataclasses.replace(
        selection,
        indices=positions[selection.indices],
        n_total=table.pool_size,
        name=name or f"{selection.name}-partial",
        partial=table.status.partial_record(),
    )


def align_sequences(ids: Any, sequences: Any) -> list[str]:
    """The old name of :func:`biocoreset_viz.sequences.sequences_for_ids` for scored ids."""
    from biocoreset_viz.sequences import sequences_for_ids

    return sequences_for_ids(ids, sequences, role="scored")
