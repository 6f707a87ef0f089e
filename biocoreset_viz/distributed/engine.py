"""The Ray engine: :func:`score_with_ray`, the scoring plan run by an actor pool.

The driver stages the input, makes the one
:class:`~biocoreset_viz.influence.plan.ScoringPlan`, fine-tunes and fits the Fisher
(:func:`~biocoreset_viz.influence.pipeline.fisher_stage`, exactly as the local
engine), writes the manifest, and hands the shards still to score to
:class:`~biocoreset_viz.distributed.actors.ShardScorer` actors through Ray Data's
``map_batches``. Only public pieces of :mod:`biocoreset_viz.influence` are used.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from biocoreset_viz.distributed.actors import ShardScorer, ShardWork
from biocoreset_viz.distributed.options import RayOptions, require_ray
from biocoreset_viz.distributed.staging import stage_inputs
from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.runs import ScoreTable, shard_paths


def _check_device(device: str) -> None:
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(
            f"device {device!r}: the Ray engine gives each actor its own GPU; "
            "use 'auto', 'cuda' or 'cpu'"
        )


def _connect(ray, options: RayOptions) -> bool:
    """Join or start a cluster; ``True`` when this call started the session (and ends it)."""
    if ray.is_initialized():
        return False
    import logging

    arguments: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if options.address is None and not os.environ.get("RAY_ADDRESS"):
        arguments.update(num_cpus=options.num_cpus, include_dashboard=False)
    ray.init(address=options.address, **arguments)
    return True


def _pool_shape(ray, options: RayOptions, device: str, pending: int) -> tuple[int, float, float]:
    """``(actors, CPUs per actor, GPUs per actor)`` for this cluster."""
    resources = ray.cluster_resources()
    gpus = float(resources.get("GPU", 0))
    cpus = float(resources.get("CPU", 1))
    per_gpu = options.gpus_per_actor
    if per_gpu is None:
        per_gpu = 1.0 if gpus >= 1 and device != "cpu" else 0.0
    if per_gpu > gpus or (device == "cuda" and not per_gpu):
        raise ConfigError(
            f"device {device!r} with {per_gpu:g} GPUs per actor, but the cluster has {gpus:g} GPUs"
        )
    if not per_gpu and options.cpus_per_actor > cpus:
        raise ConfigError(
            f"{options.cpus_per_actor:g} CPUs per actor, but the cluster has {cpus:g} CPUs"
        )
    actors = options.num_actors
    if actors is None:
        actors = int(gpus // per_gpu) if per_gpu else int(cpus // options.cpus_per_actor)
    return max(1, min(actors, pending)), options.cpus_per_actor, per_gpu


def check_complete(run_dir: Path, count: int) -> None:
    """Every pool position exactly once across the score shards, or an error.

    Raises:
        RunDirectoryError: a position missing or scored twice.
    """
    paths = shard_paths(run_dir)
    index = pq.ParquetDataset(paths).read(columns=["index"]).column("index").to_numpy()
    if len(index) != count or not np.array_equal(np.sort(index), np.arange(count)):
        unique = len(np.unique(index))
        raise RunDirectoryError(
            f"{run_dir}: the score shards hold {len(index)} rows ({unique} distinct positions) "
            f"for a pool of {count}; rerun to score the missing shards"
        )


def score_with_ray(
    inputs: str | Path | Sequence[str | Path],
    model: str | Path | tuple[Any, Any],
    run_dir: str | Path,
    config=None,
    *,
    finetune_settings=None,
    options: RayOptions | None = None,
    molecule: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreTable:
    """:func:`~biocoreset_viz.influence.score_run` on a Ray cluster, streaming the input.

    Same run directory, same scores, same resumability: shards already scored are
    skipped, a killed run continues where it stopped, and a worker that dies has
    its shards retried (see :mod:`biocoreset_viz.distributed`).

    Args:
        inputs: a sequence file (FASTA, CSV/TSV, plain, gzip too) or a Parquet file
            (``id``, ``sequence`` and label columns), several of them, a folder or a glob.
        model: a name or checkpoint path, or a ``(model, alphabet)`` pair.
        run_dir: the run directory; shared by every node of a multi-node cluster.
        config: an :class:`~biocoreset_viz.influence.InfluenceConfig`; its device
            must be ``"auto"``, ``"cpu"`` or ``"cuda"`` (Ray gives each actor its GPU).
        finetune_settings: as for ``score_run``.
        options: the cluster and the actor pool (default :class:`RayOptions`).
        molecule: ``"rna"``, ``"protein"`` or ``"auto"``.
        overwrite: replace a run made with other settings.
        progress: progress bars.

    Raises:
        RayNotInstalledError: Ray is not installed.
        RunDirectoryError: another writer holds the run directory (the driver holds
            its writer lock for the whole run), scores of another identity (without
            ``overwrite``), or a full disk (what was written is kept: rerun).
    """
    ray = require_ray()
    from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig
    from biocoreset_viz.influence.manifest import holding_run

    config = config or InfluenceConfig()
    options = options or RayOptions()
    _check_device(config.device)
    run_dir = Path(run_dir).resolve()
    settings = finetune_settings or FinetuneSettings()
    with holding_run(run_dir):
        return _score_held(
            ray, inputs, model, run_dir, config, settings, options, molecule, overwrite, progress
        )


def _score_held(
    ray,
    inputs: str | Path | Sequence[str | Path],
    model: str | Path | tuple[Any, Any],
    run_dir: Path,
    config,
    settings,
    options: RayOptions,
    molecule: str,
    overwrite: bool,
    progress: bool,
) -> ScoreTable:
    """:func:`score_with_ray` once the run directory is held."""
    from biocoreset_viz.influence import (
        DiagonalFisher,
        complete_score_manifest,
        fisher_stage,
        load_scoring_model,
        plan_scoring,
        start_score_manifest,
    )
    from biocoreset_viz.influence.manifest import pending_shards

    network, alphabet, model_name = load_scoring_model(model)
    staged = stage_inputs(
        inputs, run_dir, shard_size=config.shard_size, molecule=molecule, progress=progress
    )
    plan = plan_scoring(network, staged, config, alphabet=alphabet)
    stage = fisher_stage(
        network, plan, staged, run_dir, settings, overwrite=overwrite, progress=progress
    )
    plan = stage.plan
    manifest = start_score_manifest(
        plan,
        stage.fisher,
        run_dir,
        model_name=model_name,
        overwrite=overwrite,
        extra_manifest={"engine": {"name": "ray"}, "finetune": stage.finetune_summary},
    )
    # After start_score_manifest, which deletes the scores of another identity (overwrite).
    pending = pending_shards(run_dir, plan)
    if pending:  # a finished run is completed without starting a cluster
        work = ShardWork(
            plan,
            network.to("cpu"),
            DiagonalFisher(stage.fisher.values, stage.fisher.n_sequences),
            staged,
        )
        _score_on_cluster(ray, pending, work, manifest, run_dir, options, progress)
    check_complete(run_dir, plan.count)
    complete_score_manifest(run_dir, manifest, scored=plan.count, truncated=plan.truncated)
    return ScoreTable.load(run_dir)


def _score_on_cluster(
    ray,
    pending: list[int],
    work: ShardWork,
    manifest: dict[str, Any],
    run_dir: Path,
    options: RayOptions,
    progress: bool,
) -> None:
    """Join or start the cluster, record the actor pool in the manifest, score ``pending``."""
    started_here = _connect(ray, options)
    try:
        shape = _pool_shape(ray, options, work.plan.runtime.device, len(pending))
        actors, cpus, gpus = shape
        manifest["engine"].update(actors=actors, cpus_per_actor=cpus, gpus_per_actor=gpus)
        with warnings.catch_warnings():
            # Ray deprecations (its own context fields, the retry bounds we pass):
            # nothing a user of this package can act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            _score_parts(ray, pending, work, run_dir, shape, options, progress)
    finally:
        if started_here:
            ray.shutdown()


def _score_parts(
    ray,
    pending: list[int],
    work: ShardWork,
    run_dir: Path,
    shape: tuple[int, float, float],
    options: RayOptions,
    progress: bool,
) -> None:
    """Score the ``pending`` shards with an actor pool; returns when all are written."""
    from tqdm.auto import tqdm

    actors, cpus, gpus = shape
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours below counts sequences, not blocks
    # One shard per block: a retried task then redoes one shard, not a block of them.
    dataset = ray.data.from_items(
        [{"part": part} for part in pending], override_num_blocks=len(pending)
    )
    arguments: dict[str, Any] = {
        "batch_size": 1,
        "compute": ray.data.ActorPoolStrategy(size=actors),
        "fn_constructor_kwargs": {
            "work": ray.put(work),
            "run_dir": str(run_dir),
            "threads": max(1, int(cpus)),
        },
        "num_cpus": cpus,
        "num_gpus": gpus,
    }
    # Ray Data restarts dead actors and retries their tasks without limit by default;
    # a bound turns a shard that kills every worker into an error instead of a hang.
    # Ray deprecates passing these (to be removed): a Ray without them keeps its default.
    bounds = {"max_restarts": options.max_restarts, "max_task_retries": options.max_restarts}
    try:
        scored = dataset.map_batches(ShardScorer, **arguments, **bounds)
    except TypeError:
        scored = dataset.map_batches(ShardScorer, **arguments)
    total = sum(len(work.plan.part_indices(part)) for part in pending)
    bar = tqdm(total=total, unit="seq", desc="scoring (ray)", disable=not progress)
    for row in scored.iter_rows():
        bar.update(int(row["rows"]))
    bar.close()
