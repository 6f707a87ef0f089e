"""Fingerprints and identities: what makes two scores, or two Fisher stages, the same.

A run directory records the identity of its scores (model, Fisher, input, the
:class:`~biocoreset_viz.influence.config.ScoreSettings` and the shard layout) and
its Fisher file the identity of the stage that made it (base model, input, score
settings, fine-tune); a run made with another identity is refused unless
overwritten. Identities recorded before the score settings were split from the
runtime options (``score_config``: the settings and the shard size, ``precision``
left out when ``"full"``) are compared in that older form, so those runs resume.

Torch is imported only to fingerprint a model.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from biocoreset_viz.influence.config import FinetuneSettings, ScoreSettings

if TYPE_CHECKING:
    import torch
    from torch import nn

    from biocoreset_viz.influence.fisher import DiagonalFisher
    from biocoreset_viz.influence.plan import ScoringPlan
    from biocoreset_viz.sequences import SequenceSet

# The key of an identity recorded before ScoreSettings existed.
LEGACY_SETTINGS_KEY = "score_config"


def model_fingerprint(model: nn.Module, dtype: torch.dtype | None = None) -> str:
    """SHA-256 of the model's parameters and buffers (names, dtypes and bytes).

    With ``dtype``: of the model as ``model.to(dtype)`` makes it (floating-point
    tensors cast), without changing the model.
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    import torch

    return tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()


class InputDigest:
    """The input fingerprint, fed one record at a time (so a streamed pool gets it too)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, sequence_id: str, sequence: str) -> None:
        self._digest.update(sequence_id.encode())
        self._digest.update(b"\x1f")
        self._digest.update(sequence.encode())
        self._digest.update(b"\x1e")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def input_fingerprint(sequences: SequenceSet) -> str:
    """SHA-256 of the pool's ids and sequences, in order."""
    digest = InputDigest()
    for name, sequence in zip(sequences.ids, sequences.sequences, strict=True):
        digest.update(name, sequence)
    return digest.hexdigest()


def settings_identity(settings: ScoreSettings) -> dict[str, Any]:
    """A score's settings as its identity records them: every field, ``reduction`` left
    out when ``"mean"`` (the only reduction before it was a setting), so that runs made
    before it keep their identity."""
    values = settings.to_dict()
    if values.get("reduction") == "mean":
        values.pop("reduction")
    return values


def score_variants_record(settings: ScoreSettings) -> dict[str, str]:
    """What each score column of the run holds (the manifest's ``score_variants``): the
    variants selection can rank by, with the loss reduction that defines them."""
    loss = f"the per-sequence {settings.loss} loss, reduction '{settings.reduction}' over tokens"
    return {
        "loss": loss,
        "self_influence": "sum_j g_j^2 / (F_j + lambda), g the target gradient of that loss",
        "gradient_norm": "||g||, the target gradient's norm without the Fisher (sqrt of s, F = 1)",
    }


def legacy_score_key(settings: ScoreSettings, shard_size: int) -> dict[str, Any]:
    """A score's settings as identities recorded them before :class:`ScoreSettings`."""
    values = settings_identity(settings)
    if values["precision"] == "full":
        values.pop("precision")
    return {**values, "shard_size": shard_size}


def layout_of(plan: ScoringPlan) -> dict[str, Any]:
    """The run directory's shard layout (a resumed run must cut the pool the same way)."""
    return {"shard_size": plan.runtime.shard_size}


def score_identity(plan: ScoringPlan, fisher: DiagonalFisher) -> dict[str, Any]:
    """The identity of a run directory's scores."""
    return {
        "model_sha256": plan.model_sha256,
        "fisher_sha256": fisher.fingerprint(),
        "input_sha256": plan.input_record["sha256"],
        "score_settings": settings_identity(plan.settings),
        "layout": layout_of(plan),
    }


def legacy_score_identity(identity: Mapping[str, Any], plan: ScoringPlan) -> dict[str, Any]:
    """:func:`score_identity` in the form recorded before :class:`ScoreSettings`."""
    return {
        "model_sha256": identity["model_sha256"],
        "fisher_sha256": identity["fisher_sha256"],
        "input_sha256": identity["input_sha256"],
        LEGACY_SETTINGS_KEY: legacy_score_key(plan.settings, plan.runtime.shard_size),
    }


def fisher_stage_identity(plan: ScoringPlan, finetune: FinetuneSettings) -> dict[str, Any]:
    """The identity of the fine-tune and Fisher stages (a Fisher does not depend on
    the shard layout, so it is not part of it)."""
    return {
        "base_model_sha256": plan.model_sha256,
        "input_sha256": plan.input_record["sha256"],
        "score_settings": settings_identity(plan.settings),
        "finetune": dataclasses.asdict(finetune),
    }


def legacy_fisher_stage_identity(
    identity: Mapping[str, Any], plan: ScoringPlan, base_model: nn.Module
) -> dict[str, Any]:
    """:func:`fisher_stage_identity` as recorded before :class:`ScoreSettings` (the base
    model fingerprinted in its own dtype, not the scoring dtype)."""
    return {
        "base_model_sha256": model_fingerprint(base_model),
        "input_sha256": identity["input_sha256"],
        LEGACY_SETTINGS_KEY: legacy_score_key(plan.settings, plan.runtime.shard_size),
        "finetune": identity["finetune"],
    }


def changed_entries(
    recorded: Mapping[str, Any] | None,
    identity: Mapping[str, Any],
    legacy: Callable[[], Mapping[str, Any]],
) -> list[str]:
    """The entries of ``identity`` that differ from the ``recorded`` one.

    A record of the older form is compared with ``legacy()``, the same identity in
    that form (computed only then).
    """
    recorded = recorded or {}
    if LEGACY_SETTINGS_KEY in recorded:
        identity = legacy()
    return [key for key, value in identity.items() if recorded.get(key) != value]
