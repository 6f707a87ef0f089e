"""Scoring: a shard's losses, self-influence, gradient norms and embeddings, and the local engine.

:func:`score_shard` scores the sequences at some pool positions under a plan; it is
the one scoring step of both engines (the Ray engine's actors call it too).
:func:`score_locally` runs a plan in this process into a resumable run directory;
:func:`score` is the same from a model, a Fisher, sequences and a config.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.influence import memory
from biocoreset_viz.influence.batches import per_sample_batches
from biocoreset_viz.influence.config import InfluenceConfig
from biocoreset_viz.influence.fisher import DiagonalFisher
from biocoreset_viz.influence.manifest import (
    complete_score_manifest,
    holding_run,
    pending_shards,
    start_score_manifest,
)
from biocoreset_viz.influence.plan import ScoringPlan, plan_scoring, prepare_model
from biocoreset_viz.runs import SCORES_DIR, SHARD_PATTERN, ScoreTable, write_shard
from biocoreset_viz.sequences import SequenceSet


def score_shard(
    plan: ScoringPlan,
    model: nn.Module,
    weights: dict[str, torch.Tensor],
    sequences: SequenceSet,
    indices: np.ndarray,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Scores and embeddings of the sequences at ``indices`` (a shard), in ``indices`` order.

    Args:
        plan: the score (the model must be prepared for it: :func:`prepare_model`).
        model: the model the Fisher was fitted with.
        weights: ``plan.inverse_weights(fisher)``.
        sequences: the sequences ``indices`` point into.
        indices: positions in ``sequences``; the frame's ``index`` column.
        on_batch: called with each batch's size (a progress bar).

    Returns:
        ``(frame, embeddings)``: one row per position (``index``, ``id``, ``length``,
        ``truncated``, ``loss``, ``self_influence``, ``gradient_norm`` and the label
        columns) and the ``(n, D)`` float16 embeddings. ``loss`` and
        ``gradient_norm`` (``‖g‖``: self-influence without the Fisher, ``√s`` with
        ``F = 1``) are the cheap baselines to compare self-influence against; they
        come from the same per-sample gradients, at no extra model cost.

    Results stay on the device until the shard is done and are copied to the host
    once: a copy per batch would make the host wait for the GPU after every batch.
    """
    position = {int(i): p for p, i in enumerate(indices)}
    rows: list[np.ndarray] = []
    totals: list[torch.Tensor] = []
    squared_norms: list[torch.Tensor] = []
    batch_losses: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    for chosen, result in per_sample_batches(plan, model, sequences, indices, overlap=True):
        total = torch.zeros(len(chosen), dtype=torch.float64, device=plan.device)
        squared_norm = torch.zeros_like(total)
        for name, gradient in result.gradients.items():
            squares = gradient.reshape(len(chosen), -1).square().to(torch.float64)  # (B, P)
            total += squares @ weights[name].reshape(-1)
            squared_norm += squares.sum(1)
        rows.append(np.fromiter((position[int(i)] for i in chosen), np.int64, len(chosen)))
        totals.append(total)
        squared_norms.append(squared_norm)
        batch_losses.append(result.losses.double())
        pooled.append(result.embeddings.float())  # (B, D)
        if on_batch is not None:
            on_batch(len(chosen))
    order = np.concatenate(rows)
    influence = np.empty(len(indices), dtype=np.float64)
    losses = np.empty(len(indices), dtype=np.float64)
    influence[order] = torch.cat(totals).cpu().numpy()
    gradient_norm = np.empty(len(indices), dtype=np.float64)
    gradient_norm[order] = torch.cat(squared_norms).sqrt().cpu().numpy()
    losses[order] = torch.cat(batch_losses).cpu().numpy()
    matrix = torch.cat(pooled).cpu().numpy().astype(np.float16)  # (n, D)
    embeddings = np.empty_like(matrix)
    embeddings[order] = matrix
    del rows, totals, squared_norms, batch_losses, pooled
    memory.release_freed_memory()  # what the shard's own results and batches left behind
    frame = _shard_frame(plan, sequences, indices, losses, influence, gradient_norm)
    return frame, embeddings


def _shard_frame(
    plan: ScoringPlan,
    sequences: SequenceSet,
    indices: np.ndarray,
    losses: np.ndarray,
    influence: np.ndarray,
    gradient_norm: np.ndarray,
) -> pd.DataFrame:
    lengths = sequences.lengths[indices]
    frame = pd.DataFrame(
        {
            "index": indices.astype(np.int64),
            "id": [sequences.ids[i] for i in indices],
            "length": lengths.astype(np.int64),
            "truncated": lengths > plan.max_length,
            "loss": losses,
            "self_influence": influence,
            "gradient_norm": gradient_norm,
        }
    )
    if sequences.labels is not None:
        labels = sequences.labels.iloc[indices].reset_index(drop=True)
        frame = pd.concat([frame, labels], axis=1)
    return frame


def score_locally(
    plan: ScoringPlan,
    model: nn.Module,
    fisher: DiagonalFisher,
    sequences: SequenceSet,
    run_dir: str | Path,
    *,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    extra_manifest: dict[str, Any] | None = None,
) -> ScoreTable:
    """The local engine: score a plan's pool in this process, shard by shard.

    Resumable: shards already in ``run_dir/scores`` are kept and only missing (or
    damaged) ones are computed. ``sequences`` is the pool the plan was made for.
    Holds the run directory's writer lock throughout (:func:`holding_run`).

    Raises:
        ConfigError: ``sequences`` is not the plan's pool, or the Fisher's targets are
            not the plan's.
        RunDirectoryError: the run directory cannot be written, another writer holds
            it, it holds scores of another identity (without ``overwrite``), or the
            disk filled up (what was written is kept: rerun to resume).
    """
    if len(sequences) != plan.count:
        raise ConfigError(f"the plan is for {plan.count} sequences, not {len(sequences)}")
    run_dir = Path(run_dir)
    with holding_run(run_dir):
        return _score_held(
            plan, model, fisher, sequences, run_dir, model_name, overwrite, progress, extra_manifest
        )


def _score_held(
    plan: ScoringPlan,
    model: nn.Module,
    fisher: DiagonalFisher,
    sequences: SequenceSet,
    run_dir: Path,
    model_name: str | None,
    overwrite: bool,
    progress: bool,
    extra_manifest: dict[str, Any] | None,
) -> ScoreTable:
    """:func:`score_locally` once the run directory is held."""
    prepare_model(model, plan)
    weights = plan.inverse_weights(fisher)
    manifest = start_score_manifest(
        plan,
        fisher,
        run_dir,
        model_name=model_name,
        overwrite=overwrite,
        extra_manifest={"engine": {"name": "local"}, **(extra_manifest or {})},
    )
    pending = pending_shards(run_dir, plan)
    waiting = sum(len(plan.part_indices(part)) for part in pending)
    bar = tqdm(
        total=plan.count,
        initial=plan.count - waiting,
        unit="seq",
        desc="scoring",
        disable=not progress,
        dynamic_ncols=True,
    )
    for part in pending:
        indices = plan.part_indices(part)
        frame, embeddings = score_shard(plan, model, weights, sequences, indices, bar.update)
        write_shard(run_dir / SCORES_DIR / SHARD_PATTERN.format(part), frame, embeddings)
    bar.close()
    complete_score_manifest(run_dir, manifest, scored=plan.count, truncated=plan.truncated)
    return ScoreTable.load(run_dir)


def score(
    model: nn.Module,
    fisher: DiagonalFisher,
    sequences: SequenceSet,
    config: InfluenceConfig,
    run_dir: str | Path,
    *,
    alphabet=None,
    model_name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    extra_manifest: dict[str, Any] | None = None,
) -> ScoreTable:
    """Score every sequence: loss, self-influence and an embedding, written as Parquet shards.

    Resumable: shards already in ``run_dir/scores`` are kept and only missing ones
    are computed, so a killed run continues where it stopped with no row missing
    or duplicated. A run directory made with another model, Fisher, input or
    score settings is refused unless ``overwrite=True`` (which deletes its scores).

    Args:
        model: the model the Fisher was fitted with.
        fisher: from :func:`~biocoreset_viz.influence.fisher.fit_fisher`.
        sequences: the pool to score.
        config: must match the Fisher's target.
        run_dir: the run directory (created when absent).
        alphabet: defaults to ``model.alphabet``.
        model_name: how the model was named or found, for the manifest.
        overwrite: start over in a run directory made with other settings.
        progress: show a progress bar with sequences/s and ETA.
        extra_manifest: more manifest entries (fine-tune settings ...).

    Returns:
        The complete :class:`~biocoreset_viz.runs.ScoreTable`.
    """
    plan = plan_scoring(model, sequences, config, alphabet=alphabet)
    return score_locally(
        plan,
        model,
        fisher,
        sequences,
        run_dir,
        model_name=model_name,
        overwrite=overwrite,
        progress=progress,
        extra_manifest=extra_manifest,
    )
