"""The diagonal empirical Fisher: its record and its fitting on the Fisher subset.

``F = (1/M) sum_{m in S} g_m * g_m`` over a seeded random subset S of the pool, per
target parameter, in float64 (design §2).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.influence.batches import per_sample_batches
from biocoreset_viz.influence.config import InfluenceConfig
from biocoreset_viz.influence.plan import ScoringPlan, plan_scoring, prepare_model
from biocoreset_viz.runs import atomic_write_bytes
from biocoreset_viz.sequences import SequenceSet


@dataclass
class DiagonalFisher:
    """Diagonal empirical Fisher ``F = mean(g * g)`` over a subset, per target parameter.

    Attributes:
        values: parameter name -> float64 tensor of the parameter's shape.
        n_sequences: M, the subset size it was averaged over.
        metadata: config, model fingerprint, subset seed and size.
    """

    values: dict[str, torch.Tensor]
    n_sequences: int
    metadata: dict[str, Any] = field(default_factory=dict)

    FORMAT = "biocoreset_viz-diagonal-fisher"

    @property
    def targets(self) -> list[str]:
        return list(self.values)

    def damping_value(self, damping: float, mode: str) -> float:
        """Lambda: ``damping`` itself, or ``damping * mean(F)`` for ``mode='relative'``."""
        if mode == "absolute":
            return float(damping)
        total = sum(float(v.sum()) for v in self.values.values())
        count = sum(v.numel() for v in self.values.values())
        return float(damping) * total / count

    def inverse_weights(self, damping: float, mode: str) -> dict[str, torch.Tensor]:
        """``1 / (F + lambda)`` per parameter (float64); infinite lambda-free zeros are refused."""
        lam = self.damping_value(damping, mode)
        if lam == 0 and any(bool((v == 0).any()) for v in self.values.values()):
            raise ConfigError("damping is 0 but the Fisher has zero entries: use damping > 0")
        return {name: 1.0 / (value + lam) for name, value in self.values.items()}

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name, value in self.values.items():
            digest.update(name.encode())
            digest.update(value.contiguous().numpy().tobytes())
        return digest.hexdigest()

    def save(self, path: str | Path) -> Path:
        buffer = io.BytesIO()
        torch.save(
            {
                "format": self.FORMAT,
                "values": self.values,
                "n_sequences": self.n_sequences,
                "metadata": self.metadata,
            },
            buffer,
        )
        return atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> DiagonalFisher:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != cls.FORMAT:
            raise RunDirectoryError(f"{path}: not a Fisher file written by biocoreset_viz")
        return cls(payload["values"], payload["n_sequences"], payload["metadata"])

    @staticmethod
    def exists(path: str | Path) -> bool:
        return Path(path).is_file()


def fisher_subset_indices(n_pool: int, subset: int | float, seed: int) -> np.ndarray:
    """Sorted indices of the seeded random Fisher subset S of a pool of ``n_pool``."""
    size = round(subset * n_pool) if isinstance(subset, float) else int(subset)
    size = max(1, min(size, n_pool))
    return np.sort(np.random.default_rng(seed).choice(n_pool, size=size, replace=False))


def fit_fisher(
    model: nn.Module,
    sequences: SequenceSet,
    config: InfluenceConfig,
    *,
    alphabet=None,
    subset: np.ndarray | None = None,
    progress: bool = True,
) -> DiagonalFisher:
    """Diagonal empirical Fisher of the target parameters on a random subset.

    Args:
        model: the (optionally fine-tuned) model.
        sequences: the pool; the subset S is drawn from it.
        config: target, loss, seed, Fisher subset size ...
        subset: explicit subset indices (default: :func:`fisher_subset_indices`).
    """
    plan = plan_scoring(model, sequences, config, alphabet=alphabet)
    if subset is None:
        subset = fisher_subset_indices(
            len(sequences), plan.settings.fisher_subset, plan.settings.seed
        )
    return accumulate_fisher(plan, model, sequences, subset, progress=progress)


def accumulate_fisher(
    plan: ScoringPlan,
    model: nn.Module,
    sequences: SequenceSet,
    subset: np.ndarray,
    *,
    progress: bool = True,
) -> DiagonalFisher:
    """:func:`fit_fisher` on a plan: the Fisher over ``sequences[subset]``, in batches."""
    subset = np.asarray(subset, dtype=np.int64)
    prepare_model(model, plan)
    sums = {
        n: torch.zeros(p.shape, dtype=torch.float64, device=plan.device)
        for n, p in model.named_parameters()
        if n in plan.targets
    }
    bar = tqdm(
        total=len(subset), unit="seq", desc="Fisher", disable=not progress, dynamic_ncols=True
    )
    for chosen, result in per_sample_batches(plan, model, sequences, subset):
        for name, gradient in result.gradients.items():
            sums[name] += gradient.double().square().sum(0)
        bar.update(len(chosen))
    bar.close()
    values = {n: (s / len(subset)).cpu() for n, s in sums.items()}
    metadata = {
        "config": plan.config().to_dict(),
        "targets": list(plan.targets),
        "model_sha256": plan.model_sha256,
        "subset_size": len(subset),
        "subset_seed": plan.settings.seed,
        "subset_ids": [sequences.ids[i] for i in subset],
    }
    return DiagonalFisher(values, len(subset), metadata)
