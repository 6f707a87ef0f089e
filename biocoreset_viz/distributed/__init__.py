"""Score with Ray Data: many GPUs, many machines, pools that do not fit in memory.

:func:`score_with_ray` writes the same run directory as
:func:`biocoreset_viz.influence.score_run` (``manifest.json``, ``fisher.pt``,
``scores/part-XXXXX.parquet``) with the same scores, bit for bit on the same
hardware and thread count, and either engine resumes the other's run. It works in
three steps:

1. **Stage the input, streaming.** The FASTA/CSV/plain files and Parquet files
   (sharded input: several files, a folder or a glob, read in order) are read
   record by record and written to ``RUN_DIR/inputs/part-XXXXX.parquet``, one file
   per score shard, so no machine ever holds the whole pool. The same pass counts
   the pool, records its lengths and computes the input fingerprint the local
   engine computes. A finished staging is reused while the input files are
   unchanged (same paths, sizes and modification times).
2. **Plan once, then fine-tune and fit the Fisher on the driver**: the staged input
   is a :class:`~biocoreset_viz.influence.plan.ScoringPool`, so the one
   :class:`~biocoreset_viz.influence.plan.ScoringPlan` is made from it as from
   sequences in memory, and the Fisher stage is the local engine's own
   (:func:`biocoreset_viz.influence.fisher_stage`), on the Fisher subset only.
3. **Score the shards with an actor pool**: a Ray Dataset holds one row per shard
   still to score, and ``map_batches`` hands them to actors that each hold one
   model (one actor per GPU, or per ``cpus_per_actor`` CPUs). An actor reads its
   staged shard, scores it with the local engine's own step
   (:func:`biocoreset_viz.influence.score_shard`) and writes the score
   shard atomically. A shard is written whole or not at all, and writing it twice
   writes the same file, so when a worker dies Ray restarts the actor and retries
   its shards with no row lost or duplicated; a final check reads the ``index``
   column of every shard and requires every input position exactly once.

Ray is an optional dependency: ``pip install "biocoreset_viz[distributed]"``.
The run directory must be on storage that every node can read and write (NFS, a
parallel file system) when the cluster has more than one machine: see
``docs/scaling.md``.

Modules: ``options`` (RayOptions, require_ray), ``inputs`` (files, folders, globs,
Parquet readers), ``staging`` (StagedInput, stage_inputs), ``actors``
(ShardScorer), ``engine`` (score_with_ray). Importing this package does not
import torch or Ray.
"""

from __future__ import annotations

from biocoreset_viz.distributed.actors import ShardScorer, ShardWork, write_score_shard
from biocoreset_viz.distributed.engine import check_complete, score_with_ray
from biocoreset_viz.distributed.inputs import PARQUET_SUFFIXES, expand_inputs, iter_input_records
from biocoreset_viz.distributed.options import (
    INSTALL_HINT,
    RayNotInstalledError,
    RayOptions,
    require_ray,
)
from biocoreset_viz.distributed.staging import (
    INPUT_LENGTHS_NAME,
    INPUT_SUMMARY_NAME,
    StagedInput,
    stage_inputs,
)
from biocoreset_viz.runs import INPUTS_DIR

__all__ = [
    "INPUTS_DIR",
    "INPUT_LENGTHS_NAME",
    "INPUT_SUMMARY_NAME",
    "INSTALL_HINT",
    "PARQUET_SUFFIXES",
    "RayNotInstalledError",
    "RayOptions",
    "ShardScorer",
    "ShardWork",
    "StagedInput",
    "check_complete",
    "expand_inputs",
    "iter_input_records",
    "require_ray",
    "score_with_ray",
    "stage_inputs",
    "write_score_shard",
]
