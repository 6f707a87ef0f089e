"""The Ray actor that scores whole shards: one model per actor, the local engine's step.

An actor gets the driver's :class:`~biocoreset_viz.influence.plan.ScoringPlan`, the
model and the Fisher once, and then batches of shard numbers; for each shard it
reads the staged sequences, scores them with
:func:`~biocoreset_viz.influence.scoring.score_shard` (the very function the local
engine runs) and writes the score shard atomically with :func:`write_score_shard`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.distributed.staging import StagedInput
from biocoreset_viz.runs import SCORES_DIR, SHARD_PATTERN, write_shard


@dataclass
class ShardWork:
    """What every actor holds: the plan, the model (on the CPU), the Fisher, the input."""

    plan: Any  # biocoreset_viz.influence.ScoringPlan (torch is imported by the actor only)
    model: Any
    fisher: Any  # biocoreset_viz.influence.DiagonalFisher
    staged: StagedInput


def write_score_shard(
    run_dir: Path, part: int, frame: pd.DataFrame, embeddings: np.ndarray
) -> Path:
    """Write score shard ``part`` of ``run_dir`` whole, or not at all."""
    return write_shard(run_dir / SCORES_DIR / SHARD_PATTERN.format(part), frame, embeddings)


class ShardScorer:
    """A Ray actor that holds one model and scores whole shards (``map_batches`` callable)."""

    def __init__(self, work: Any, run_dir: str, threads: int) -> None:
        import torch

        from biocoreset_viz.influence import prepare_model

        if not isinstance(work, ShardWork):  # an ObjectRef Ray did not resolve for us
            import ray

            work = ray.get(work)
        torch.set_num_threads(max(1, threads))
        self.run_dir = Path(run_dir)
        self.plan = work.plan.on_this_machine()  # "auto" means this actor's GPU, if any
        self.model = work.model
        self.staged = work.staged
        prepare_model(self.model, self.plan)
        self.weights = self.plan.inverse_weights(work.fisher)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from biocoreset_viz.influence import score_shard

        parts = [int(p) for p in batch["part"]]
        rows = []
        for part in parts:
            indices, sequences = self.staged.part_sequences(part)
            # Positions in this shard: the same batches as the local engine's shard.
            frame, embeddings = score_shard(
                self.plan, self.model, self.weights, sequences, np.arange(len(sequences))
            )
            frame["index"] = indices  # positions in the pool
            write_score_shard(self.run_dir, part, frame, embeddings)
            rows.append(len(frame))
        return {"part": np.array(parts, dtype=np.int64), "rows": np.array(rows, dtype=np.int64)}
