"""The scoring plan: everything a score needs, resolved and checked once, up front.

:func:`plan_scoring` takes a model, a pool and the settings and returns a frozen
:class:`ScoringPlan` — canonical target names, effective max length, truncated
count, device, dtype, model fingerprint, input record, molecule — after refusing,
before any model work, an empty pool, the wrong molecule, an unknown target, a
precision the targets cannot use, a max length beyond the model's and (with
``truncation="error"``) a sequence that is too long. Both engines take the plan:
the local one (:func:`biocoreset_viz.influence.scoring.score_locally`) and the Ray
one (:func:`biocoreset_viz.distributed.score_with_ray`).

The pool is anything with the :class:`ScoringPool` members: an in-memory
:class:`~biocoreset_viz.sequences.SequenceSet` (wrapped in :class:`SequencePool`)
or the Ray engine's staged input, which holds only lengths, count, fingerprint and
source and fetches ids and subsets from disk.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.influence.config import (
    InfluenceConfig,
    RuntimeOptions,
    ScoreSettings,
    split_config,
)
from biocoreset_viz.influence.encoder import ForwardOptions
from biocoreset_viz.influence.identity import input_fingerprint, model_fingerprint
from biocoreset_viz.influence.targets import check_precision, model_layout, resolve_targets
from biocoreset_viz.models import ModelFamily, alphabet_molecule, family_of
from biocoreset_viz.sequences import SequenceSet

if TYPE_CHECKING:
    from biocoreset_viz.influence.fisher import DiagonalFisher

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
# Default longest sequence (residues) of fair-esm models without a positional limit
# (ESM-2 was trained on 1,024-token crops: 1,022 residues plus BOS and EOS); each
# family says its own limit (ModelFamily.max_residues).
DEFAULT_MAX_RESIDUES = 1022


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when available, else the CPU; any other name as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_alphabet(model: nn.Module, alphabet: Any = None) -> Any:
    """The model's alphabet: the one given, else ``model.alphabet`` (set by ``load_model``).

    Raises:
        ConfigError: neither is there.
    """
    alphabet = alphabet if alphabet is not None else getattr(model, "alphabet", None)
    if alphabet is None:
        raise ConfigError("the model carries no alphabet: pass alphabet= (load_model attaches it)")
    return alphabet


def effective_max_length(
    model: nn.Module, config: ScoreSettings | InfluenceConfig, family: ModelFamily | None = None
) -> int:
    """Residues kept per sequence: ``config.max_length`` or the model's limit
    (``family.max_residues``; ``family`` defaults to the model's)."""
    model_limit = (family if family is not None else model_layout(model)).max_residues
    if config.reference_padding:
        model_limit = min(model_limit, config.reference_window - 2)
    if config.max_length is None:
        return model_limit
    if config.max_length > model_limit:
        raise ConfigError(
            f"max_length {config.max_length} exceeds the model's limit of {model_limit} residues"
        )
    return config.max_length


def check_molecule(alphabet: Any, sequences: Any) -> None:
    """Refuse RNA input for a protein model and the reverse (``sequences``: anything
    with ``molecule`` and ``source``, a SequenceSet or a pool)."""
    model_molecule = alphabet_molecule(alphabet)
    if sequences.molecule != model_molecule:
        raise InputError(
            f"the model is a {model_molecule} model but the input is {sequences.molecule}: "
            f"use a {sequences.molecule} model",
            path=sequences.source,
        )


def absolute_source(source: str | None) -> str | None:
    """An input file's absolute path (so the run directory can find it from anywhere)."""
    if source and Path(source).is_file():
        return str(Path(source).resolve())
    return source


class ScoringPool(Protocol):
    """What a plan and the Fisher stage need of the pool, whichever engine reads it."""

    @property
    def count(self) -> int: ...
    @property
    def lengths(self) -> np.ndarray: ...  # (N,) residues per sequence
    @property
    def sha256(self) -> str: ...  # the input fingerprint
    @property
    def molecule(self) -> str: ...
    @property
    def source(self) -> str | None: ...  # for error messages

    def record_id(self, index: int) -> str: ...
    def subset(self, indices: np.ndarray) -> SequenceSet: ...
    def input_record(self) -> dict[str, Any]: ...  # the manifest's "input" entry


class SequencePool:
    """An in-memory :class:`~biocoreset_viz.sequences.SequenceSet` as a :class:`ScoringPool`."""

    def __init__(self, sequences: SequenceSet) -> None:
        self.sequences = sequences

    @property
    def count(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> np.ndarray:
        return self.sequences.lengths

    @functools.cached_property
    def sha256(self) -> str:
        return input_fingerprint(self.sequences)

    @property
    def molecule(self) -> str:
        return self.sequences.molecule

    @property
    def source(self) -> str | None:
        return self.sequences.source

    def record_id(self, index: int) -> str:
        return self.sequences.ids[index]

    def subset(self, indices: np.ndarray) -> SequenceSet:
        return self.sequences.subset(indices)

    def input_record(self) -> dict[str, Any]:
        return {"path": absolute_source(self.source), "count": self.count, "sha256": self.sha256}


def as_pool(pool: SequenceSet | ScoringPool) -> ScoringPool:
    """A SequenceSet wrapped as a pool; a pool as it is."""
    return SequencePool(pool) if isinstance(pool, SequenceSet) else pool


@dataclass(frozen=True)
class ScoringPlan:
    """A score resolved and checked once; the engines compute it as it says.

    Attributes:
        settings: what the score is (its identity).
        runtime: how it runs (device, token budget, shard size, packing, compile).
        alphabet: the model's alphabet.
        molecule: ``"rna"`` or ``"protein"``, the model's and the pool's.
        targets: canonical target parameter names, in model order.
        max_length: residues kept per sequence.
        count: sequences in the pool.
        truncated: sequences longer than ``max_length`` (cut to their head).
        device: where the model runs (resolved from ``runtime.device``).
        dtype: the model's dtype while scoring.
        model_sha256: the model's fingerprint in ``dtype`` (of the model as scored:
            :meth:`for_model` makes the plan of a fine-tuned model).
        model_record: the manifest's architecture, layers and width of the model.
        input_record: the manifest's ``input`` entry (path, count, sha256 ...).
        family: the model family's name (``"fair-esm"``, ``"huggingface"`` ...,
            :mod:`biocoreset_viz.models.family`).
        closed_form: whether every target has the closed-form gradient ``delta^T h``
            (the dense layer of the LM head), so no ``torch.func`` pass is needed.
    """

    settings: ScoreSettings
    runtime: RuntimeOptions
    alphabet: Any
    molecule: str
    targets: tuple[str, ...]
    max_length: int
    count: int
    truncated: int
    device: torch.device
    dtype: torch.dtype
    model_sha256: str
    model_record: dict[str, Any]
    input_record: dict[str, Any]
    family: str = "fair-esm"
    closed_form: bool = True

    @property
    def forward_options(self) -> ForwardOptions:
        """How the encoder runs: precision, packing, compilation."""
        return ForwardOptions(self.settings.precision, self.runtime.packing, self.runtime.compile)

    def config(self) -> InfluenceConfig:
        """The settings and runtime options as one (flat) :class:`InfluenceConfig`."""
        return InfluenceConfig.from_parts(self.settings, self.runtime)

    @property
    def n_parts(self) -> int:
        """Score shards of the run directory."""
        return -(-self.count // self.runtime.shard_size)

    def part_indices(self, part: int) -> np.ndarray:
        """Pool positions of score shard ``part``."""
        start = part * self.runtime.shard_size
        return np.arange(start, min(start + self.runtime.shard_size, self.count))

    def for_model(self, model: nn.Module) -> ScoringPlan:
        """This plan for a changed model (fine-tuned): its fingerprint recomputed."""
        return dataclasses.replace(self, model_sha256=model_fingerprint(model, self.dtype))

    def on_this_machine(self) -> ScoringPlan:
        """This plan with ``runtime.device`` resolved here (a Ray actor on its own GPU)."""
        return dataclasses.replace(self, device=resolve_device(self.runtime.device))

    def model_family(self, model: nn.Module) -> ModelFamily:
        """The family adapter of the plan's model (the model the engine runs)."""
        return family_of(model, self.alphabet)

    def check_fisher(self, fisher: DiagonalFisher) -> None:
        """Refuse a Fisher fitted on other target parameters."""
        if sorted(self.targets) != sorted(fisher.targets):
            raise ConfigError(
                f"the Fisher was fitted on {fisher.targets} but the config targets "
                f"{list(self.targets)}"
            )

    def inverse_weights(self, fisher: DiagonalFisher) -> dict[str, torch.Tensor]:
        """``1 / (F + lambda)`` per target parameter, on the plan's device."""
        weights = fisher.inverse_weights(self.settings.damping, self.settings.damping_mode)
        return {name: weight.to(self.device) for name, weight in weights.items()}


def plan_scoring(
    model: nn.Module,
    pool: SequenceSet | ScoringPool,
    config: InfluenceConfig | ScoreSettings | None = None,
    *,
    runtime: RuntimeOptions | None = None,
    alphabet: Any = None,
) -> ScoringPlan:
    """Resolve and check a score once, before any model work.

    Args:
        model: the model to score with (read, not changed).
        pool: a SequenceSet or a :class:`ScoringPool` (the Ray engine's staged input).
        config: an :class:`InfluenceConfig`, or :class:`ScoreSettings` with ``runtime``.
        runtime: the runtime options of bare ``ScoreSettings`` (default ``RuntimeOptions()``).
        alphabet: defaults to ``model.alphabet``.

    Raises:
        InputError: an empty pool, the wrong molecule, or a sequence longer than
            ``max_length`` with ``truncation="error"`` (naming it).
        ConfigError: an unknown target, a precision the targets cannot use, a
            max length beyond the model's, runtime options the settings exclude or
            the model's family cannot run (packing and compilation are for fair-esm
            models).
    """
    settings, runtime = split_config(config, runtime)
    alphabet = model_alphabet(model, alphabet)
    pool = as_pool(pool)
    if pool.count == 0:
        raise InputError("no sequences to score", path=pool.source)
    check_molecule(alphabet, pool)
    family = family_of(model, alphabet)
    check_fast_path(family, runtime)
    targets = resolve_targets(model, settings.target, family)
    closed_form = family.closed_form_targets()
    check_precision(targets, settings.precision, closed_form)
    max_length = effective_max_length(model, settings, family)
    lengths = pool.lengths
    too_long = np.flatnonzero(lengths > max_length)
    if settings.truncation == "error" and len(too_long):
        first = int(too_long[0])
        raise InputError(
            f"{len(too_long)} sequences exceed max_length {max_length} residues "
            f"(this one has {lengths[first]}); use truncation='head' to keep their start",
            path=pool.source,
            record=pool.record_id(first),
        )
    dtype = DTYPES[settings.dtype]
    return ScoringPlan(
        settings=settings,
        runtime=runtime,
        alphabet=alphabet,
        molecule=alphabet_molecule(alphabet),
        targets=tuple(targets),
        max_length=max_length,
        count=pool.count,
        truncated=len(too_long),
        device=resolve_device(runtime.device),
        dtype=dtype,
        model_sha256=model_fingerprint(model, dtype),
        model_record=family.architecture_record(),
        input_record=pool.input_record(),
        family=family.name,
        closed_form=set(targets) <= closed_form,
    )


def check_fast_path(family: ModelFamily, runtime: RuntimeOptions) -> None:
    """Refuse packing and compilation for a family the fair-esm fast encoder does not run.

    bfloat16 autocast (``precision="bf16"``) works for every family: it wraps the
    family's own forward.
    """
    if family.fast_encoder:
        return
    chosen = [flag for flag in ("packing", "compile") if getattr(runtime, flag)]
    if chosen:
        raise ConfigError(
            f"{' and '.join(chosen)} run the fair-esm fast encoder only; "
            f"{family.name} models score with their own forward: use "
            + ", ".join(f"{flag}=False" for flag in chosen)
        )


def prepare_model(model: nn.Module, plan: ScoringPlan) -> None:
    """Put the model on the plan's device and dtype, in eval mode, every parameter
    requiring gradients (the per-sample gradients need them)."""
    model.to(device=plan.device, dtype=plan.dtype).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
