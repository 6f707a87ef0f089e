"""The whole analysis, resumable at every stage: fine-tune, Fisher, scores.

:func:`score_run` makes one :class:`~biocoreset_viz.influence.plan.ScoringPlan`,
runs :func:`fisher_stage` (the optional MLM fine-tune on the Fisher subset, then the
Fisher; both reused when finished) and hands the plan to the local engine. The Ray
engine (:func:`biocoreset_viz.distributed.score_with_ray`) runs the very same
stage on its staged input.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.influence.config import FinetuneSettings, InfluenceConfig
from biocoreset_viz.influence.fisher import DiagonalFisher, accumulate_fisher, fisher_subset_indices
from biocoreset_viz.influence.identity import (
    changed_entries,
    fisher_stage_identity,
    legacy_fisher_stage_identity,
)
from biocoreset_viz.influence.manifest import holding_run, write_subset_ids
from biocoreset_viz.influence.plan import (
    ScoringPlan,
    ScoringPool,
    SequencePool,
    check_molecule,
    model_alphabet,
    plan_scoring,
    resolve_device,
)
from biocoreset_viz.influence.scoring import score_locally
from biocoreset_viz.runs import (
    FINETUNED_NAME,
    FISHER_NAME,
    FISHER_SUBSET_NAME,
    SCORES_DIR,
    ScoreTable,
    atomic_write_bytes,
)
from biocoreset_viz.sequences import SequenceSet


def finetune(
    model: nn.Module,
    sequences: SequenceSet,
    *,
    alphabet=None,
    epochs: int = 1,
    learning_rate: float = 1e-4,
    max_tokens: int = 8192,
    max_length: int | None = None,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> list[dict]:
    """Short MLM fine-tune on the Fisher subset, so the model sits near a stationary point of it.

    Trains ``model`` in place with :func:`biocoreset_viz.train.train_mlm` (BERT
    masking, AdamW, warmup and cosine decay) and returns its loss log, one dict
    per optimiser step (``step``, ``epoch``, ``tokens_seen``, ``loss``, ``lr``).
    ``epochs=0`` does nothing.
    """
    from biocoreset_viz.train import DEFAULT_MAX_LENGTH, train_mlm

    alphabet = model_alphabet(model, alphabet)
    if not isinstance(epochs, int) or epochs < 0:
        raise ConfigError(f"epochs must be an integer >= 0, got {epochs!r}")
    if epochs == 0:
        return []
    check_molecule(alphabet, sequences)
    return train_mlm(
        model,
        alphabet,
        sequences,
        epochs=epochs,
        lr=learning_rate,
        max_tokens=max_tokens,
        max_length=max_length or DEFAULT_MAX_LENGTH,
        seed=seed,
        device=resolve_device(device),
        progress=progress,
    )


def load_scoring_model(
    model: str | Path | tuple[nn.Module, Any],
) -> tuple[nn.Module, Any, str | None]:
    """``(network, alphabet, name for the manifest)`` of a name, a path or a pair."""
    if isinstance(model, tuple):
        network, alphabet = model
        return network, alphabet, getattr(network, "biocoreset_source", None)
    from biocoreset_viz.models import load_model

    network, alphabet = load_model(model)
    return network, alphabet, str(model)


@dataclass
class FisherStage:
    """What :func:`fisher_stage` leaves: the Fisher, the fine-tune's summary for the
    manifest, and the plan of the model as it now is (fine-tuned: its own fingerprint)."""

    fisher: DiagonalFisher
    finetune_summary: dict[str, Any]
    plan: ScoringPlan


def fisher_stage(
    network: nn.Module,
    plan: ScoringPlan,
    pool: ScoringPool,
    run_dir: Path,
    settings: FinetuneSettings,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> FisherStage:
    """Stages 1 and 2 of :func:`score_run`, reused when finished: fine-tune, then Fisher.

    Needs of the pool only its plan and a way to fetch the subset's sequences, so an
    engine that streams the pool (the Ray engine) runs the very same stage: the
    subset is ``fisher_subset_indices(plan.count, ...)`` either way and the Fisher is
    fitted on the subset's sequences in pool order.

    Args:
        network: the model, fine-tuned in place (or loaded with the saved fine-tuned
            weights when the stage is already done).
        plan: the pool's plan, made for ``network`` as given.
        pool: the pool (``pool.subset(indices)``: those sequences, in that order).
        run_dir: the run directory (``fisher.pt``, ``fisher_subset.txt``,
            ``finetuned_model.pt``).
        settings: the fine-tune's.
    """
    identity = fisher_stage_identity(plan, settings)
    fisher_path = run_dir / FISHER_NAME
    finetuned_path = run_dir / FINETUNED_NAME
    fisher = DiagonalFisher.load(fisher_path) if DiagonalFisher.exists(fisher_path) else None
    if fisher is not None and changed_entries(
        fisher.metadata.get("stage_identity"),
        identity,
        lambda: legacy_fisher_stage_identity(identity, plan, network),
    ):
        if not overwrite:
            raise RunDirectoryError(
                f"{run_dir} was made with a different model, input, config or fine-tune; "
                "use another run directory or overwrite=True (--overwrite) to start over"
            )
        for stale in (fisher_path, finetuned_path, run_dir / FISHER_SUBSET_NAME):
            stale.unlink(missing_ok=True)
        if (run_dir / SCORES_DIR).exists():
            shutil.rmtree(run_dir / SCORES_DIR)
        fisher = None

    if fisher is None:
        subset_set = pool.subset(
            fisher_subset_indices(plan.count, plan.settings.fisher_subset, plan.settings.seed)
        )
        finetune_log: list[dict] = []
        if settings.epochs:
            finetune_log = finetune(
                network,
                subset_set,
                alphabet=plan.alphabet,
                epochs=settings.epochs,
                learning_rate=settings.learning_rate,
                max_tokens=plan.runtime.max_tokens,
                max_length=plan.max_length,
                seed=plan.settings.seed,
                device=plan.runtime.device,
                progress=progress,
            )
            _save_state(network, finetuned_path)
            plan = plan.for_model(network)
        # The subset alone, in pool order, batches exactly as the subset of the pool would.
        fisher = accumulate_fisher(
            plan, network, subset_set, np.arange(len(subset_set)), progress=progress
        )
        fisher.metadata["stage_identity"] = identity
        fisher.metadata["finetune_log"] = finetune_log
        fisher.save(fisher_path)
        write_subset_ids(run_dir, fisher)
    elif settings.epochs:
        if not finetuned_path.exists():
            raise RunDirectoryError(
                f"{run_dir}: {FINETUNED_NAME} is missing; rerun with --overwrite"
            )
        network.load_state_dict(torch.load(finetuned_path, map_location="cpu", weights_only=True))
        plan = plan.for_model(network)
    return FisherStage(fisher, _finetune_summary(settings, fisher), plan)


def _finetune_summary(settings: FinetuneSettings, fisher: DiagonalFisher) -> dict[str, Any]:
    """The manifest's ``finetune`` entry: the settings and the loss log's outline."""
    log = fisher.metadata.get("finetune_log") or []
    steps = [row for row in log if row.get("step", 0) > 0]
    return {
        **dataclasses.asdict(settings),
        "steps": len(steps),
        "first_loss": steps[0]["loss"] if steps else None,
        "last_loss": log[-1]["loss"] if log else None,
        "weights_file": FINETUNED_NAME if settings.epochs else None,
    }


def _save_state(model: nn.Module, path: Path) -> None:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def score_run(
    sequences: SequenceSet,
    model: str | Path | tuple[nn.Module, Any],
    run_dir: str | Path,
    config: InfluenceConfig | None = None,
    *,
    finetune_settings: FinetuneSettings | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreTable:
    """The whole analysis, resumable at every stage: fine-tune, Fisher, scores.

    1. Draw the Fisher subset S (seeded), fine-tune the model on it
       (``finetune_settings.epochs``, default one epoch; the weights are saved as
       ``finetuned_model.pt`` so a resumed run uses the very same model).
    2. Fit the diagonal Fisher on S (``fisher.pt``, subset ids in ``fisher_subset.txt``).
    3. Score every sequence into Parquet shards (the local engine,
       :func:`~biocoreset_viz.influence.scoring.score_locally`).

    Every setting is checked once, up front (:func:`plan_scoring`). Running it again
    with the same arguments reuses the finished stages and continues the scoring;
    other settings are refused unless ``overwrite=True``.

    Args:
        sequences: the pool.
        model: a name or checkpoint path for :func:`~biocoreset_viz.models.load_model`,
            or a ``(model, alphabet)`` pair (fine-tuned in place).
        run_dir: the run directory.
        config: scoring settings (default :class:`InfluenceConfig`).
        finetune_settings: default :class:`FinetuneSettings` (one epoch).
        overwrite: replace a run made with other settings.
        progress: progress bars.
    """
    config = config or InfluenceConfig()
    settings = finetune_settings or FinetuneSettings()
    run_dir = Path(run_dir)
    with holding_run(run_dir):  # one writer, from the fine-tune to the last shard
        return _score_run_held(sequences, model, run_dir, config, settings, overwrite, progress)


def _score_run_held(
    sequences: SequenceSet,
    model: str | Path | tuple[nn.Module, Any],
    run_dir: Path,
    config: InfluenceConfig,
    settings: FinetuneSettings,
    overwrite: bool,
    progress: bool,
) -> ScoreTable:
    """:func:`score_run` once the run directory is held."""
    network, alphabet, model_name = load_scoring_model(model)
    pool = SequencePool(sequences)
    plan = plan_scoring(network, pool, config, alphabet=alphabet)
    stage = fisher_stage(
        network, plan, pool, run_dir, settings, overwrite=overwrite, progress=progress
    )
    return score_locally(
        stage.plan,
        network,
        stage.fisher,
        sequences,
        run_dir,
        model_name=model_name,
        overwrite=overwrite,
        progress=progress,
        extra_manifest={"finetune": stage.finetune_summary},
    )
