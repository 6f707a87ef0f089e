"""Self-influence under a diagonal Fisher (design §2), with embeddings, in one pass.

For a sequence x_i with per-sequence loss l(x_i) and target parameters theta_T:

* per-sample gradient   g_i = d l(x_i) / d theta_T
* subset Fisher         F   = (1/M) sum_{m in S} g_m * g_m     (diagonal, S random, |S| = M)
* self-influence        s_i = sum_j g_ij^2 / (F_j + lambda)    (>= 0, larger = more influential)

The published code stores the influence with the opposite sign (its score is
``-s_i``, an influence-function "self-influence" that is more negative for more
influential samples): ``s_ours = -s_published``, and ranking by ``s_ours``
descending equals ranking the published score ascending.

Stages are verbs: :func:`finetune` (optional MLM fine-tune on S), :func:`fit_fisher`
and :func:`score`; :func:`score_run` chains them with a resumable run directory.
Per-sample gradients never loop over samples in Python: the default target
``lm_head.dense.weight`` uses the closed form ``G_i = delta_i^T h_i`` (delta the
gradient at the dense layer's output, h its input); any other target uses
``torch.func.vmap(grad(...))`` over a forward without data-dependent branches.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import hashlib
import io
import math
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from biocoreset_viz import __version__
from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.forward import (
    PackedTokens,
    encoder_features,
    is_esm2,
    lm_logits,
    max_positions,
    mean_pool,
    pack_tokens,
    packed_encoder_features,
    precision_context,
    unpack_features,
)
from biocoreset_viz.models import alphabet_molecule, encode_batch, token_budget_batches
from biocoreset_viz.runs import (
    MANIFEST_NAME,
    SCORES_DIR,
    SHARD_PATTERN,
    ScoreTable,
    atomic_write_bytes,
    read_json,
    shard_paths,
    write_json,
    write_shard,
)
from biocoreset_viz.sequences import SequenceSet

TARGET_PRESETS = {
    "lm_head.dense.weight": "the D x D dense layer inside the LM head (the published choice)",
    "lm_head": "every LM-head parameter, including the output projection tied to the "
    "token embedding (a tied parameter's gradient is its full gradient)",
    "last_block": "every parameter of the last transformer layer",
    "all": "every parameter on the loss path (the contact head is excluded)",
}
CLOSED_FORM_TARGETS = frozenset({"lm_head.dense.weight", "lm_head.dense.bias"})
# Default longest sequence (residues) for models without a positional limit (ESM-2
# was trained on 1,024-token crops: 1,022 residues plus BOS and EOS).
DEFAULT_MAX_RESIDUES = 1022
FISHER_NAME = "fisher.pt"
FISHER_SUBSET_NAME = "fisher_subset.txt"
FINETUNED_NAME = "finetuned_model.pt"
# Bytes of per-sample gradients held at once by the torch.func path.
_PER_SAMPLE_GRADIENT_BYTES = 1 << 30

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class InfluenceConfig:
    """How self-influence is computed; validated on creation.

    Every field's ``help`` metadata documents it (``InfluenceConfig.help()`` prints them).
    """

    target: str | list[str] = field(
        default="lm_head.dense.weight",
        metadata=_help(
            "target parameters theta_T: 'lm_head.dense.weight' (default), 'lm_head', "
            "'last_block', 'all', a parameter name, a list of names, or a regular "
            "expression matched against full parameter names"
        ),
    )
    loss: Literal["reconstruction", "mlm"] = field(
        default="reconstruction",
        metadata=_help(
            "'reconstruction': unmasked cross-entropy of the logits against the input "
            "tokens, averaged over the sequence's non-padding tokens (BOS and EOS "
            "included); 'mlm': BERT-style masking averaged over mlm_draws seeded draws"
        ),
    )
    mlm_draws: int = field(default=4, metadata=_help("mask draws m per sequence for loss='mlm'"))
    mask_prob: float = field(
        default=0.15, metadata=_help("fraction of residues masked per draw (loss='mlm')")
    )
    reference_padding: bool = field(
        default=False,
        metadata=_help(
            "reproduce the published code's loss: pad every sequence to reference_window "
            "tokens and average the cross-entropy over the whole window, padding "
            "included (scores then depend on padding; for comparison runs only)"
        ),
    )
    reference_window: int = field(
        default=1024, metadata=_help("window length of reference_padding, in tokens")
    )
    damping: float = field(
        default=1e-8,
        metadata=_help(
            "damping lambda added to the Fisher (absolute, or a factor, see damping_mode)"
        ),
    )
    damping_mode: Literal["absolute", "relative"] = field(
        default="absolute",
        metadata=_help("'absolute': lambda = damping; 'relative': lambda = damping * mean(F)"),
    )
    max_length: int | None = field(
        default=None,
        metadata=_help(
            "longest sequence scored, in residues; None = the model's limit (1,022 "
            "residues for ESM-2 and for RNA-FM's 1,024 positions)"
        ),
    )
    truncation: Literal["head", "error"] = field(
        default="head",
        metadata=_help(
            "longer sequences: 'head' keeps the first max_length residues (flagged "
            "'truncated' and counted in the manifest); 'error' stops with the record named"
        ),
    )
    max_tokens: int = field(
        default=8192, metadata=_help("token budget per batch, padding included")
    )
    dtype: Literal["float32", "float64", "bfloat16"] = field(
        default="float32", metadata=_help("dtype of the model while scoring")
    )
    device: str = field(
        default="auto", metadata=_help("'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:1' ...")
    )
    seed: int = field(
        default=0, metadata=_help("seed of the Fisher subset, the fine-tune and the MLM masks")
    )
    fisher_subset: int | float = field(
        default=0.1,
        metadata=_help(
            "Fisher subset S: a fraction of the pool (float in (0, 1]) or a count (int >= 1)"
        ),
    )
    shard_size: int = field(
        default=4096,
        metadata=_help("sequences per Parquet shard: the unit of work redone after a crash"),
    )
    precision: Literal["full", "bf16"] = field(
        default="full",
        metadata=_help(
            "'full': every step in dtype; 'bf16' (GPU fast path for the LM-head targets, "
            "needs dtype='float32'): "
            "the encoder's matrix products under bfloat16 autocast with float32 weights, "
            "layer norms and residual stream, while the LM head, the loss, the per-sample "
            "gradients, the Fisher and the scores stay float32/float64 (scores agree with "
            "'full' to about 1e-3 relative; they are recorded as a different run)"
        ),
    )
    packing: bool = field(
        default=False,
        metadata=_help(
            "padding-free packing (GPU fast path): each batch runs as one row of "
            "concatenated sequences, attention per sequence through nested tensors (the "
            "variable-length flash kernel on CUDA in bf16); the whole forward of the "
            "LM-head targets, the embedding pass of others; equal to the padded forward "
            "up to rounding; not with reference_padding"
        ),
    )
    compile: bool = field(
        default=False,
        metadata=_help(
            "torch.compile the encoder (dynamic shapes; as packing, the whole forward of "
            "the LM-head targets, the embedding pass of others); off by default: "
            "compiling costs tens of seconds and measured no gain on an H100"
        ),
    )

    def __post_init__(self) -> None:
        if isinstance(self.target, (list, tuple)):
            if not self.target or not all(isinstance(t, str) and t for t in self.target):
                raise ConfigError("target: a list of target names must be non-empty strings")
            self.target = list(self.target)
        elif not isinstance(self.target, str) or not self.target:
            raise ConfigError(f"target must be a non-empty string or list, got {self.target!r}")
        if self.loss not in ("reconstruction", "mlm"):
            raise ConfigError(f"loss must be 'reconstruction' or 'mlm', got {self.loss!r}")
        if not isinstance(self.mlm_draws, int) or self.mlm_draws < 1:
            raise ConfigError(f"mlm_draws must be an integer >= 1, got {self.mlm_draws!r}")
        if not 0 < self.mask_prob < 1:
            raise ConfigError(f"mask_prob must be in (0, 1), got {self.mask_prob!r}")
        if self.reference_padding and self.loss != "reconstruction":
            raise ConfigError("reference_padding applies to loss='reconstruction' only")
        if not isinstance(self.reference_window, int) or self.reference_window < 3:
            raise ConfigError(
                f"reference_window must be an integer >= 3, got {self.reference_window!r}"
            )
        if not (math.isfinite(self.damping) and self.damping >= 0):
            raise ConfigError(f"damping must be finite and >= 0, got {self.damping!r}")
        if self.damping_mode not in ("absolute", "relative"):
            raise ConfigError(
                f"damping_mode must be 'absolute' or 'relative', got {self.damping_mode!r}"
            )
        if self.max_length is not None and (
            not isinstance(self.max_length, int) or self.max_length < 1
        ):
            raise ConfigError(
                f"max_length must be None or an integer >= 1, got {self.max_length!r}"
            )
        if self.truncation not in ("head", "error"):
            raise ConfigError(f"truncation must be 'head' or 'error', got {self.truncation!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if not isinstance(self.device, str) or not re.fullmatch(
            r"auto|cpu|cuda(:\d+)?|mps", self.device
        ):
            raise ConfigError(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        subset = self.fisher_subset
        valid_fraction = isinstance(subset, float) and 0 < subset <= 1
        valid_count = isinstance(subset, int) and not isinstance(subset, bool) and subset >= 1
        if not (valid_fraction or valid_count):
            raise ConfigError(
                f"fisher_subset must be a fraction in (0, 1] or a count >= 1, got {subset!r}"
            )
        if not isinstance(self.shard_size, int) or self.shard_size < 1:
            raise ConfigError(f"shard_size must be an integer >= 1, got {self.shard_size!r}")
        if self.precision not in ("full", "bf16"):
            raise ConfigError(f"precision must be 'full' or 'bf16', got {self.precision!r}")
        if self.precision == "bf16" and self.dtype != "float32":
            raise ConfigError(
                "precision='bf16' autocasts a float32 model: use dtype='float32' "
                f"(got dtype={self.dtype!r}; dtype='bfloat16' casts the whole model instead)"
            )
        for flag in ("packing", "compile"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.packing and self.reference_padding:
            raise ConfigError(
                "packing removes padding, which reference_padding counts in the loss: "
                "use one or the other"
            )

    @classmethod
    def help(cls) -> str:
        """Every field with its default and documentation."""
        return "\n".join(
            f"{f.name} (default {f.default!r}): {f.metadata['help']}"
            for f in dataclasses.fields(cls)
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> InfluenceConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def score_key(self) -> dict[str, Any]:
        """The fields that change the scores or the shard layout (not device or batching).

        Packing and compiling change only floating-point rounding, as the device and
        the batch size do. ``precision`` is part of the key only when it is not the
        default, so run directories made before the field existed keep their identity.
        """
        values = self.to_dict()
        for irrelevant in ("device", "max_tokens", "packing", "compile"):
            values.pop(irrelevant)
        if values["precision"] == "full":
            values.pop("precision")
        return values

    def forward_options(self) -> ForwardOptions:
        """How the encoder runs: precision, packing, compilation."""
        return ForwardOptions(self.precision, self.packing, self.compile)


# ---------------------------------------------------------------------------- targets


def _parameter_aliases(model: nn.Module) -> dict[str, str]:
    """Every parameter name, tied aliases included, mapped to its canonical name."""
    canonical_by_id = {id(p): name for name, p in model.named_parameters()}
    return {
        name: canonical_by_id[id(p)]
        for name, p in model.named_parameters(remove_duplicate=False)
        if p.requires_grad
    }


def _loss_path(names: Sequence[str]) -> list[str]:
    return [n for n in names if not n.startswith("contact_head.")]


def _describe_names(names: Sequence[str]) -> str:
    """Compact listing: per-layer names collapsed to ``layers.<i>.…`` with the index range."""
    layer_indices: set[int] = set()
    shown: list[str] = []
    for name in names:
        match = re.match(r"layers\.(\d+)\.(.*)", name)
        if match:
            layer_indices.add(int(match.group(1)))
            generic = f"layers.<i>.{match.group(2)}"
            if generic not in shown:
                shown.append(generic)
        elif name not in shown:
            shown.append(name)
    text = ", ".join(shown)
    if layer_indices:
        text += f" (i = {min(layer_indices)}..{max(layer_indices)})"
    return text


def resolve_targets(model: nn.Module, target: str | Sequence[str]) -> list[str]:
    """Canonical parameter names selected by a target specification, in model order.

    Raises:
        ValueError: the specification matches no parameter; the message lists the
            presets and the available names.
    """
    aliases = _parameter_aliases(model)
    canonical_order = [name for name, _ in model.named_parameters()]
    available = _loss_path(list(aliases))

    def unknown(spec: str) -> ConfigError:
        return ConfigError(
            f"unknown target {spec!r}: matches no parameter. Presets: "
            f"{', '.join(TARGET_PRESETS)}. Parameters: {_describe_names(available)}"
        )

    selected: set[str] = set()
    specs = [target] if isinstance(target, str) else list(target)
    for spec in specs:
        if spec == "lm_head":
            matched = [n for n in available if n.startswith("lm_head.")]
        elif spec == "last_block":
            last = len(model.layers) - 1
            matched = [n for n in available if n.startswith(f"layers.{last}.")]
        elif spec == "all":
            matched = available
        elif spec in aliases:
            matched = [spec]
        elif isinstance(target, str):
            try:
                pattern = re.compile(spec)
            except re.error as error:
                raise unknown(spec) from error
            matched = [n for n in available if pattern.fullmatch(n)]
        else:
            matched = []
        if not matched:
            raise unknown(spec)
        selected.update(aliases[n] for n in matched)
    return [n for n in canonical_order if n in selected]


# ---------------------------------------------------------------------------- batches


def _stable_seed(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def mlm_mask_draws(
    tokens: torch.Tensor,
    ids: Sequence[str],
    alphabet,
    *,
    draws: int,
    mask_prob: float,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded BERT-style mask draws, reproducible per sequence.

    Each sequence's draws come from a generator seeded by ``(seed, id)`` and are
    drawn over its own tokens only, so they do not depend on batch composition or
    padding. Masking is :func:`biocoreset_viz.train.mask_tokens` (BERT's 80/10/10,
    at least one residue per draw).

    Args:
        tokens: ``(B, T)`` unmasked tokens.
        ids: the B sequence ids.

    Returns:
        ``inputs`` ``(B, m, T)`` masked tokens and ``selected`` ``(B, m, T)`` bool.
    """
    from biocoreset_viz.train import IGNORE_INDEX, MaskingConfig, mask_tokens

    masking = MaskingConfig(mask_prob=mask_prob)
    real_lengths = tokens.ne(alphabet.padding_idx).sum(1).tolist()
    inputs = tokens.unsqueeze(1).repeat(1, draws, 1)  # (B, m, T)
    selected = torch.zeros(inputs.shape, dtype=torch.bool)
    for row, (sequence_id, length) in enumerate(zip(ids, real_lengths, strict=True)):
        generator = torch.Generator().manual_seed(_stable_seed(seed, sequence_id))
        own = tokens[row, :length].expand(draws, length)  # (m, L)
        masked, targets = mask_tokens(own, alphabet, generator, masking)
        inputs[row, :, :length] = masked
        selected[row, :, :length] = targets.ne(IGNORE_INDEX)
    return inputs, selected


@dataclass
class LossBatch:
    """One batch in the unified loss form ``l_i = sum_{d,t} w[i,d,t] * CE(x[i,d], y[i,d])_t``.

    Attributes:
        tokens: ``(B, T)`` unmasked tokens (embeddings are pooled from these).
        inputs: ``(B, m, T)`` model inputs (masked for MLM; ``m = 1`` otherwise).
        weights: ``(B, m, T)`` per-position loss weights; each sequence's sum is 1.
        residue_mask: ``(B, T)`` residue positions (BOS, EOS, padding excluded).
        packed_inputs: ``inputs`` viewed as ``(B*m, T)`` and packed (``packing=True``).
        packed_tokens: ``tokens`` packed, for the MLM embeddings (``packing=True``, m > 1).
    """

    tokens: torch.Tensor
    inputs: torch.Tensor
    weights: torch.Tensor
    residue_mask: torch.Tensor
    packed_inputs: PackedTokens | None = None
    packed_tokens: PackedTokens | None = None

    def to(self, device: torch.device, dtype: torch.dtype) -> LossBatch:
        return LossBatch(
            self.tokens.to(device),
            self.inputs.to(device),
            self.weights.to(device=device, dtype=dtype),
            self.residue_mask.to(device),
            None if self.packed_inputs is None else self.packed_inputs.to(device),
            None if self.packed_tokens is None else self.packed_tokens.to(device),
        )


def make_loss_batch(
    alphabet, sequences: Sequence[str], ids: Sequence[str], config: InfluenceConfig, max_length: int
) -> LossBatch:
    """Tokenise and build the loss inputs and weights of ``config.loss``."""
    tokens = encode_batch(alphabet, sequences, max_length=max_length)  # (B, T)
    if config.reference_padding:
        window = config.reference_window
        padded = torch.full((len(sequences), window), alphabet.padding_idx, dtype=torch.long)
        padded[:, : tokens.shape[1]] = tokens
        tokens = padded
    not_pad = tokens.ne(alphabet.padding_idx)
    residue_mask = not_pad & tokens.ne(alphabet.cls_idx) & tokens.ne(alphabet.eos_idx)
    if config.loss == "mlm":
        inputs, selected = mlm_mask_draws(
            tokens,
            ids,
            alphabet,
            draws=config.mlm_draws,
            mask_prob=config.mask_prob,
            seed=config.seed,
        )
        weights = selected.double()
        weights /= weights.sum(-1, keepdim=True) * config.mlm_draws
    else:
        inputs = tokens.unsqueeze(1)  # (B, 1, T)
        counted = torch.ones_like(tokens, dtype=torch.bool) if config.reference_padding else not_pad
        weights = counted.double().unsqueeze(1)
        weights /= weights.sum(-1, keepdim=True)
    batch = LossBatch(tokens, inputs, weights, residue_mask)
    if config.packing:
        # Packed here, on the CPU, where reading the lengths costs no device sync.
        b, m, t = inputs.shape
        batch.packed_inputs = pack_tokens(inputs.reshape(b * m, t), alphabet.padding_idx)
        if m > 1:
            batch.packed_tokens = pack_tokens(tokens, alphabet.padding_idx)
    return batch


def _weighted_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor):
    """``sum_t w_t * CE_t`` over the last axis: logits ``(..., T, V)`` -> ``(...)``."""
    ce = F.cross_entropy(
        logits.flatten(0, -2).float() if logits.dtype == torch.bfloat16 else logits.flatten(0, -2),
        targets.flatten(),
        reduction="none",
    ).view(targets.shape)
    return (ce.to(weights.dtype) * weights).sum(-1)


# ---------------------------------------------------------------------------- the encoder


@dataclass(frozen=True)
class ForwardOptions:
    """How the encoder runs (see :class:`InfluenceConfig`): the GPU fast-path switches.

    The default (``"full"``, no packing, no compilation) is the exact padded forward.
    """

    precision: Literal["full", "bf16"] = "full"
    packing: bool = False
    compile: bool = False


_COMPILED: dict[str, Callable] = {}


def _compiled(name: str, function: Callable) -> Callable:
    """``torch.compile(function, dynamic=True)``, made once per process.

    Dynamic shapes: every batch has another (B, T), and recompiling per shape would
    cost more than it saves. Dynamo guards on the model passed in, so one compiled
    function serves any model.
    """
    if name not in _COMPILED:
        _COMPILED[name] = torch.compile(function, dynamic=True)
    return _COMPILED[name]


def encode(
    model: nn.Module,
    tokens: torch.Tensor,
    options: ForwardOptions | None = None,
    packed: PackedTokens | None = None,
) -> torch.Tensor:
    """``(B, T, D)`` final-layer features for scoring (no gradient taken through them).

    With the default options this is exactly ``encoder_features(model, tokens,
    attention="sdpa")``. ``options.precision="bf16"`` autocasts the encoder;
    ``packed`` (the packed layout of ``tokens``, when ``options.packing``) runs it
    padding-free, with zeros at the padding positions of the result;
    ``options.compile`` runs a compiled encoder. The result is in the model's dtype.
    """
    options = options or ForwardOptions()
    dtype = next(model.parameters()).dtype
    with precision_context(options.precision, tokens.device):
        if options.packing and packed is not None:
            function = packed_encoder_features
            if options.compile:
                function = _compiled("packed", packed_encoder_features)
            features = unpack_features(function(model, packed), packed)  # (B, T, D)
        else:
            function = encoder_features
            if options.compile:
                function = _compiled("padded", encoder_features)
            features = function(model, tokens, attention="sdpa")  # (B, T, D)
    return features.to(dtype)


# ---------------------------------------------------------------------------- per-sample gradients


@dataclass
class PerSampleResult:
    """Per-sample gradients, losses and embeddings of one batch."""

    gradients: dict[str, torch.Tensor]  # name -> (B, *shape)
    losses: torch.Tensor  # (B,)
    embeddings: torch.Tensor  # (B, D)


def _closed_form(
    model: nn.Module, batch: LossBatch, targets: Sequence[str], options: ForwardOptions
) -> PerSampleResult:
    """Gradients of the LM head's dense layer from ``delta^T h`` (no per-sample loop).

    Only the encoder follows ``options`` (bf16 autocast, packing, compilation): the
    dense layer, the LM head, the loss and ``delta^T h`` run in the model's dtype
    (float32 or float64), so the per-sample gradients are accumulated at full precision.
    """
    b, m, t = batch.inputs.shape
    dense = model.lm_head.dense
    with torch.no_grad():
        features = encode(
            model, batch.inputs.view(b * m, t), options, batch.packed_inputs
        )  # (B*m, T, D)
        pre_activation = dense(features)  # (B*m, T, D)
        if m == 1:
            embeddings = mean_pool(features, batch.residue_mask)
        else:
            unmasked = encode(model, batch.tokens, options, batch.packed_tokens)  # (B, T, D)
            embeddings = mean_pool(unmasked, batch.residue_mask)
    z = pre_activation.detach().requires_grad_(True)
    head = model.lm_head
    hidden = head.layer_norm(F.gelu(z))
    logits = F.linear(hidden, head.weight) + head.bias  # (B*m, T, V)
    targets_tokens = batch.tokens.unsqueeze(1).expand(b, m, t).reshape(b * m, t)
    losses = _weighted_cross_entropy(logits, targets_tokens, batch.weights.view(b * m, t))
    losses = losses.view(b, m).sum(1)  # (B,)
    (delta,) = torch.autograd.grad(losses.sum(), z)  # (B*m, T, D), per sequence: d l_i / d z_i
    delta = delta.view(b, m * t, -1)
    gradients = {}
    if "lm_head.dense.weight" in targets:
        gradients["lm_head.dense.weight"] = delta.transpose(1, 2) @ features.view(
            b, m * t, -1
        )  # (B, D, D)
    if "lm_head.dense.bias" in targets:
        gradients["lm_head.dense.bias"] = delta.sum(1)  # (B, D)
    return PerSampleResult(gradients, losses.detach(), embeddings)


class _LogitsModule(nn.Module):
    """Wraps a model so ``torch.func.functional_call`` runs our branch-free forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return lm_logits(self.model, encoder_features(self.model, tokens, attention="math"))


def _functional(
    model: nn.Module, batch: LossBatch, targets: Sequence[str], options: ForwardOptions
) -> PerSampleResult:
    """Per-sample gradients of any parameters with ``torch.func.vmap(grad_and_value)``.

    Packing and compilation apply to the embedding pass only, since ``vmap`` needs
    one padded row per sample; bfloat16 autocast is refused (autograd under ``vmap``
    mixes dtypes), see :func:`check_precision`.
    """
    wrapper = _LogitsModule(model)
    frozen = {f"model.{n}": p.detach() for n, p in model.named_parameters()}
    target_params = {f"model.{n}": frozen.pop(f"model.{n}") for n in targets}

    def loss_of_one(params, inputs, tokens, weights):  # inputs (m, T), tokens (T,), weights (m, T)
        logits = torch.func.functional_call(wrapper, {**frozen, **params}, (inputs,))  # (m, T, V)
        return _weighted_cross_entropy(logits, tokens.expand_as(inputs), weights).sum()

    per_sample = torch.func.vmap(torch.func.grad_and_value(loss_of_one), in_dims=(None, 0, 0, 0))
    gradients, losses = per_sample(target_params, batch.inputs, batch.tokens, batch.weights)
    with torch.no_grad():
        embedding_layout = batch.packed_tokens
        if embedding_layout is None and batch.inputs.shape[1] == 1:
            embedding_layout = batch.packed_inputs  # unmasked inputs are the tokens
        features = encode(model, batch.tokens, options, embedding_layout)
        embeddings = mean_pool(features, batch.residue_mask)
    return PerSampleResult(
        {n.removeprefix("model."): g for n, g in gradients.items()}, losses.detach(), embeddings
    )


def per_sample_gradients(
    model: nn.Module,
    batch: LossBatch,
    targets: Sequence[str],
    options: ForwardOptions | None = None,
) -> PerSampleResult:
    """Per-sample gradients of ``targets`` for one batch (closed form where possible).

    ``options`` (default: the exact full-precision padded forward) selects the GPU
    fast path; see :class:`ForwardOptions`.
    """
    options = options or ForwardOptions()
    check_precision(targets, options.precision)
    if set(targets) <= CLOSED_FORM_TARGETS:
        return _closed_form(model, batch, targets, options)
    return _functional(model, batch, targets, options)


def check_precision(targets: Sequence[str], precision: str) -> None:
    """Refuse bfloat16 autocast for targets without a closed form.

    The fast path autocasts the encoder of the closed-form LM-head gradients; the
    ``torch.func`` per-sample gradients of other targets stay in the model's dtype.
    """
    if precision != "full" and not set(targets) <= CLOSED_FORM_TARGETS:
        raise ConfigError(
            f"precision={precision!r} is for the LM-head targets "
            f"({', '.join(sorted(CLOSED_FORM_TARGETS))}); these targets use torch.func "
            "per-sample gradients: use precision='full'"
        )


# ---------------------------------------------------------------------------- brute force


def brute_force_gradients(
    model: nn.Module,
    sequences: SequenceSet | Sequence[str],
    config: InfluenceConfig | None = None,
    *,
    alphabet=None,
) -> torch.Tensor:
    """Every sequence's per-sample gradient, one sequence at a time, with plain autograd.

    The reference the engine is checked against: fair-esm's own forward
    (``model(tokens)["logits"]``) on each sequence alone (no batching, no
    padding unless ``config.reference_padding``), the loss of ``config.loss``
    written out directly, and ``torch.autograd.grad``. Slow (one backward pass
    per sequence): for small models and a few dozen sequences.

    Args:
        model: the model (use a float64 model for a comparison at 1e-6 or better).
        sequences: a SequenceSet or plain strings (ids ``seq1``, ``seq2`` ... then;
            they seed the MLM masks).
        config: loss, target, MLM draws, seed, max_length (default :class:`InfluenceConfig`).
        alphabet: defaults to ``model.alphabet``.

    Returns:
        ``(N, P)`` gradients in the model's dtype: the target parameters of
        :func:`resolve_targets`, each flattened, concatenated in model order.
    """
    config = config or InfluenceConfig()
    alphabet = model_alphabet(model, alphabet)
    if not isinstance(sequences, SequenceSet):
        sequences = SequenceSet.from_sequences(list(sequences), validate=False)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    names = resolve_targets(model, config.target)
    max_length = effective_max_length(model, config)
    model.eval()
    rows = []
    for sequence_id, sequence in zip(sequences.ids, sequences.sequences, strict=True):
        tokens = encode_batch(alphabet, [sequence], max_length=max_length)  # (1, T)
        if config.reference_padding:
            window = torch.full((1, config.reference_window), alphabet.padding_idx)
            window[:, : tokens.shape[1]] = tokens
            tokens = window
        if config.loss == "mlm":
            inputs, selected = mlm_mask_draws(
                tokens,
                [sequence_id],
                alphabet,
                draws=config.mlm_draws,
                mask_prob=config.mask_prob,
                seed=config.seed,
            )
            loss = 0.0
            for draw in range(config.mlm_draws):
                logits = model(inputs[:, draw])["logits"][0]  # (T, V)
                ce = F.cross_entropy(logits, tokens[0], reduction="none")
                loss = loss + ce[selected[0, draw]].mean() / config.mlm_draws
        else:
            logits = model(tokens)["logits"][0]  # (T, V)
            ce = F.cross_entropy(logits, tokens[0], reduction="none")
            counted = torch.ones_like(ce, dtype=torch.bool)
            if not config.reference_padding:
                counted = tokens[0].ne(alphabet.padding_idx)
            loss = ce[counted].mean()
        grads = torch.autograd.grad(loss, [parameters[n] for n in names])
        rows.append(torch.cat([g.detach().reshape(-1) for g in grads]))
    return torch.stack(rows)


def brute_force_self_influence(
    model: nn.Module,
    sequences: SequenceSet | Sequence[str],
    config: InfluenceConfig | None = None,
    *,
    alphabet=None,
    subset: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Design §2 by its formulas, on :func:`brute_force_gradients`: ``(F, s)`` in float64.

    ``F = mean_{m in S} g_m * g_m`` over the subset S and ``s_i = sum_j g_ij^2 /
    (F_j + lambda)``, lambda from ``config.damping`` and ``config.damping_mode``.

    Args:
        model, sequences, config, alphabet: as :func:`brute_force_gradients`.
        subset: indices of S (default: :func:`fisher_subset_indices` with the
            config's ``fisher_subset`` and ``seed``, as :func:`fit_fisher` draws it).

    Returns:
        ``(F, s)``: the ``(P,)`` diagonal Fisher and the ``(N,)`` self-influence.
    """
    config = config or InfluenceConfig()
    gradients = brute_force_gradients(model, sequences, config, alphabet=alphabet).double()
    if subset is None:
        subset = fisher_subset_indices(len(gradients), config.fisher_subset, config.seed)
    fisher = gradients[torch.as_tensor(np.asarray(subset, dtype=np.int64))].square().mean(0)
    damping = config.damping
    if config.damping_mode == "relative":
        damping = config.damping * float(fisher.mean())
    return fisher, (gradients.square() / (fisher + damping)).sum(1)


# ---------------------------------------------------------------------------- Fisher


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


# ---------------------------------------------------------------------------- shared helpers


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_alphabet(model: nn.Module, alphabet=None):
    """The model's alphabet: the one given, else ``model.alphabet`` (set by ``load_model``)."""
    alphabet = alphabet if alphabet is not None else getattr(model, "alphabet", None)
    if alphabet is None:
        raise ValueError("the model carries no alphabet: pass alphabet= (load_model attaches it)")
    return alphabet


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the model's parameters and buffers (names, dtypes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(
            tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def input_fingerprint(sequences: SequenceSet) -> str:
    digest = hashlib.sha256()
    for name, sequence in zip(sequences.ids, sequences.sequences, strict=True):
        digest.update(name.encode())
        digest.update(b"\x1f")
        digest.update(sequence.encode())
        digest.update(b"\x1e")
    return digest.hexdigest()


def effective_max_length(model: nn.Module, config: InfluenceConfig) -> int:
    """Residues kept per sequence: ``config.max_length`` or the model's limit."""
    limit = max_positions(model)
    model_limit = DEFAULT_MAX_RESIDUES if limit is None else limit - 2
    if config.reference_padding:
        model_limit = min(model_limit, config.reference_window - 2)
    if config.max_length is None:
        return model_limit
    if config.max_length > model_limit:
        raise ConfigError(
            f"max_length {config.max_length} exceeds the model's limit of {model_limit} residues"
        )
    return config.max_length


def check_molecule(alphabet, sequences: SequenceSet) -> None:
    """Refuse RNA input for a protein model and the reverse."""
    model_molecule = alphabet_molecule(alphabet)
    if sequences.molecule != model_molecule:
        raise InputError(
            f"the model is a {model_molecule} model but the input is {sequences.molecule}: "
            f"use a {sequences.molecule} model",
            path=sequences.source,
        )


def _check_not_empty(sequences: SequenceSet) -> None:
    if len(sequences) == 0:
        raise InputError("no sequences to score", path=sequences.source)


def _prepare_model(model: nn.Module, config: InfluenceConfig) -> tuple[torch.device, torch.dtype]:
    device = resolve_device(config.device)
    dtype = DTYPES[config.dtype]
    model.to(device=device, dtype=dtype).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return device, dtype


def _batches(
    model: nn.Module,
    alphabet,
    sequences: SequenceSet,
    indices: np.ndarray,
    config: InfluenceConfig,
    targets: Sequence[str],
    max_length: int,
) -> Iterator[tuple[np.ndarray, LossBatch]]:
    """Length-sorted token-budget batches of the sequences at ``indices``."""
    kept = np.minimum(sequences.lengths[indices], max_length)
    if config.reference_padding:
        kept = np.full_like(kept, config.reference_window - 2)
    max_batch = None
    if not set(targets) <= CLOSED_FORM_TARGETS:
        parameters = dict(model.named_parameters())
        count = sum(parameters[n].numel() for n in targets)
        per_sample = count * torch.finfo(DTYPES[config.dtype]).bits // 8
        max_batch = max(1, _PER_SAMPLE_GRADIENT_BYTES // per_sample)
    # MLM feeds m masked copies of every sequence: the budget counts them all.
    draws = config.mlm_draws if config.loss == "mlm" else 1
    budget = max(1, config.max_tokens // draws)
    for group in token_budget_batches(kept, budget, max_batch_size=max_batch):
        chosen = indices[group]
        batch = make_loss_batch(
            alphabet,
            [sequences.sequences[i] for i in chosen],
            [sequences.ids[i] for i in chosen],
            config,
            max_length,
        )
        yield chosen, batch


def _prefetch(items: Iterator[Any], *, enabled: bool, depth: int = 2) -> Iterator[Any]:
    """Yield ``items``, producing the next ones in a background thread when ``enabled``.

    On a GPU the tokenisation of the next batch (host work) then overlaps the
    device's work on the current one. Order and values are unchanged.
    """
    if not enabled:
        yield from items
        return
    import queue
    import threading

    finished = object()
    pending: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                pending.put(item)
            pending.put(finished)
        except BaseException as error:  # handed to the consumer, raised there
            pending.put(error)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = pending.get()
            if item is finished:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                pending.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.01)


def _check_truncation(sequences: SequenceSet, config: InfluenceConfig, max_length: int) -> None:
    if config.truncation != "error":
        return
    too_long = np.flatnonzero(sequences.lengths > max_length)
    if len(too_long):
        first = int(too_long[0])
        raise InputError(
            f"{len(too_long)} sequences exceed max_length {max_length} residues "
            f"(this one has {sequences.lengths[first]}); use truncation='head' to keep their start",
            path=sequences.source,
            record=sequences.ids[first],
        )


# ---------------------------------------------------------------------------- stages


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
    alphabet = model_alphabet(model, alphabet)
    _check_not_empty(sequences)
    check_molecule(alphabet, sequences)
    targets = resolve_targets(model, config.target)
    check_precision(targets, config.precision)
    max_length = effective_max_length(model, config)
    _check_truncation(sequences, config, max_length)
    if subset is None:
        subset = fisher_subset_indices(len(sequences), config.fisher_subset, config.seed)
    subset = np.asarray(subset, dtype=np.int64)
    device, _ = _prepare_model(model, config)
    sums = {
        n: torch.zeros(p.shape, dtype=torch.float64, device=device)
        for n, p in model.named_parameters()
        if n in targets
    }
    bar = tqdm(
        total=len(subset), unit="seq", desc="Fisher", disable=not progress, dynamic_ncols=True
    )
    options = config.forward_options()
    releaser = FreedMemoryReleaser(device)
    for chosen, batch in _batches(model, alphabet, sequences, subset, config, targets, max_length):
        batch = batch.to(device, DTYPES[config.dtype])
        result = per_sample_gradients(model, batch, targets, options)
        releaser.count(batch.inputs.numel())
        for name, gradient in result.gradients.items():
            sums[name] += gradient.double().square().sum(0)
        bar.update(len(chosen))
    bar.close()
    values = {n: (s / len(subset)).cpu() for n, s in sums.items()}
    metadata = {
        "config": config.to_dict(),
        "targets": targets,
        "model_sha256": model_fingerprint(model),
        "subset_size": len(subset),
        "subset_seed": config.seed,
        "subset_ids": [sequences.ids[i] for i in subset],
    }
    return DiagonalFisher(values, len(subset), metadata)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only
    except (AttributeError, OSError):
        return None


def release_freed_memory() -> bool:
    """Give memory the C allocator holds freed back to the operating system (glibc).

    Batches of different lengths allocate tensors of different sizes; glibc keeps
    the freed ones in its heap, fragmented, so without this resident memory grows
    with the batches computed (measured: to 2.9 GiB within one shard of 4,000 demo
    RNAs). It costs about 10 ms on a heap released this way.

    Returns:
        Whether memory could be released (False where the C library is not glibc).
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


# Measured on 4,000 demo RNAs on the CPU: a release every 65,536 padded tokens (8
# full batches at the default budget) kept the peak at 0.72 GiB against 2.9 GiB
# without, at no measurable cost; one after every batch gave 0.50 GiB, 8% slower.
RELEASE_EVERY_TOKENS = 65_536


class FreedMemoryReleaser:
    """Calls :func:`release_freed_memory` once per ``every_tokens`` tokens of CPU work.

    On a GPU the batches' tensors live in PyTorch's CUDA allocator, so host memory
    does not fragment the same way and the release is skipped there.
    """

    def __init__(self, device: torch.device, every_tokens: int | None = None) -> None:
        self.enabled = device.type == "cpu"
        self.every_tokens = RELEASE_EVERY_TOKENS if every_tokens is None else every_tokens
        self._pending = 0

    def count(self, tokens: int) -> None:
        """Record ``tokens`` processed (padding included); release when they add up."""
        if not self.enabled:
            return
        self._pending += tokens
        if self._pending >= self.every_tokens:
            release_freed_memory()
            self._pending = 0


def _score_chunk(
    model: nn.Module,
    alphabet,
    sequences: SequenceSet,
    indices: np.ndarray,
    config: InfluenceConfig,
    targets: Sequence[str],
    weights: dict[str, torch.Tensor],
    max_length: int,
    device: torch.device,
    on_batch: Callable[[int], None],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Scores and embeddings of the sequences at ``indices`` (a shard), in ``indices`` order.

    Results stay on the device until the shard is done and are copied to the host
    once: a copy per batch would make the host wait for the GPU after every batch.
    """
    dtype = DTYPES[config.dtype]
    options = config.forward_options()
    position = {int(i): p for p, i in enumerate(indices)}
    rows: list[np.ndarray] = []
    totals: list[torch.Tensor] = []
    batch_losses: list[torch.Tensor] = []
    pooled: list[torch.Tensor] = []
    releaser = FreedMemoryReleaser(device)
    batches = _batches(model, alphabet, sequences, indices, config, targets, max_length)
    for chosen, batch in _prefetch(batches, enabled=device.type == "cuda"):
        result = per_sample_gradients(model, batch.to(device, dtype), targets, options)
        releaser.count(batch.inputs.numel())
        total = torch.zeros(len(chosen), dtype=torch.float64, device=device)
        for name, gradient in result.gradients.items():
            flat = gradient.reshape(len(chosen), -1)  # (B, P)
            total += flat.square().to(torch.float64) @ weights[name].reshape(-1)
        rows.append(np.fromiter((position[int(i)] for i in chosen), np.int64, len(chosen)))
        totals.append(total)
        batch_losses.append(result.losses.double())
        pooled.append(result.embeddings.float())  # (B, D)
        on_batch(len(chosen))
    order = np.concatenate(rows)
    influence = np.empty(len(indices), dtype=np.float64)
    losses = np.empty(len(indices), dtype=np.float64)
    influence[order] = torch.cat(totals).cpu().numpy()
    losses[order] = torch.cat(batch_losses).cpu().numpy()
    matrix = torch.cat(pooled).cpu().numpy().astype(np.float16)  # (n, D)
    embeddings = np.empty_like(matrix)
    embeddings[order] = matrix
    del rows, totals, batch_losses, pooled
    release_freed_memory()  # what the shard's own results and batches left behind
    lengths = sequences.lengths[indices]
    frame = pd.DataFrame(
        {
            "index": indices.astype(np.int64),
            "id": [sequences.ids[i] for i in indices],
            "length": lengths.astype(np.int64),
            "truncated": lengths > max_length,
            "loss": losses,
            "self_influence": influence,
        }
    )
    if sequences.labels is not None:
        labels = sequences.labels.iloc[indices].reset_index(drop=True)
        frame = pd.concat([frame, labels], axis=1)
    return frame, embeddings


def _ensure_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunDirectoryError(
            f"{run_dir}: cannot write the run directory ({error.strerror or error})"
        ) from error


def _absolute_source(source: str | None) -> str | None:
    """An input file's absolute path (so the run directory can find it from anywhere)."""
    if source and Path(source).is_file():
        return str(Path(source).resolve())
    return source


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


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
    score-relevant config is refused unless ``overwrite=True`` (which deletes its
    scores).

    Args:
        model: the model the Fisher was fitted with.
        fisher: from :func:`fit_fisher`.
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
    alphabet = model_alphabet(model, alphabet)
    _check_not_empty(sequences)
    check_molecule(alphabet, sequences)
    targets = fisher_targets(model, fisher, config)
    max_length = effective_max_length(model, config)
    _check_truncation(sequences, config, max_length)
    run_dir = Path(run_dir)
    _ensure_writable(run_dir)
    device, _ = _prepare_model(model, config)
    weights = {
        n: w.to(device)
        for n, w in fisher.inverse_weights(config.damping, config.damping_mode).items()
    }
    input_record = {
        "path": _absolute_source(sequences.source),
        "count": len(sequences),
        "sha256": input_fingerprint(sequences),
    }
    manifest = start_score_manifest(
        model,
        fisher,
        config,
        run_dir,
        alphabet=alphabet,
        targets=targets,
        max_length=max_length,
        input_record=input_record,
        model_name=model_name,
        overwrite=overwrite,
        extra_manifest={"engine": {"name": "local"}, **(extra_manifest or {})},
    )

    n = len(sequences)
    shard_starts = range(0, n, config.shard_size)
    done = {p.name for p in shard_paths(run_dir)}
    already = sum(
        min(config.shard_size, n - start)
        for part, start in enumerate(shard_starts)
        if SHARD_PATTERN.format(part) in done
    )
    bar = tqdm(
        total=n,
        initial=already,
        unit="seq",
        desc="scoring",
        disable=not progress,
        dynamic_ncols=True,
    )
    for part, start in enumerate(shard_starts):
        name = SHARD_PATTERN.format(part)
        if name in done:
            continue
        indices = np.arange(start, min(start + config.shard_size, n))
        frame, embeddings = _score_chunk(
            model,
            alphabet,
            sequences,
            indices,
            config,
            targets,
            weights,
            max_length,
            device,
            bar.update,
        )
        write_shard(run_dir / SCORES_DIR / name, frame, embeddings)
    bar.close()
    truncated = int((sequences.lengths > max_length).sum())
    complete_score_manifest(run_dir, manifest, scored=n, truncated=truncated)
    return ScoreTable.load(run_dir)


def fisher_targets(model: nn.Module, fisher: DiagonalFisher, config: InfluenceConfig) -> list[str]:
    """The config's target names, checked against the ones the Fisher was fitted on."""
    targets = resolve_targets(model, config.target)
    if sorted(targets) != sorted(fisher.targets):
        raise ConfigError(
            f"the Fisher was fitted on {fisher.targets} but the config targets {targets}"
        )
    check_precision(targets, config.precision)
    return targets


def start_score_manifest(
    model: nn.Module,
    fisher: DiagonalFisher,
    config: InfluenceConfig,
    run_dir: Path,
    *,
    alphabet,
    targets: Sequence[str],
    max_length: int,
    input_record: dict[str, Any],
    model_name: str | None,
    overwrite: bool,
    extra_manifest: dict[str, Any] | None,
) -> dict[str, Any]:
    """Check the run directory's identity and write its manifest with status "scoring".

    Shared by every scoring engine, so that the local and the Ray engine write the
    same manifest and can each resume the other's run. The identity is the model's
    and the Fisher's fingerprints, the input's (``input_record["sha256"]``) and the
    score-relevant config; scores made with another identity are refused unless
    ``overwrite`` (then deleted).

    Returns:
        The manifest, to be completed by :func:`complete_score_manifest`.
    """
    identity = {
        "model_sha256": model_fingerprint(model),
        "fisher_sha256": fisher.fingerprint(),
        "input_sha256": input_record["sha256"],
        "score_config": config.score_key(),
    }
    manifest_path = run_dir / MANIFEST_NAME
    if manifest_path.exists() and shard_paths(run_dir):
        previous = read_json(manifest_path).get("identity", {})
        changed = [key for key, value in identity.items() if previous.get(key) != value]
        if changed and not overwrite:
            raise RunDirectoryError(
                f"{run_dir} holds scores made with a different {', '.join(k.split('_')[0] for k in changed)}; "
                "use another run directory or overwrite=True (--overwrite) to start over"
            )
        if changed:
            shutil.rmtree(run_dir / SCORES_DIR)
    manifest: dict[str, Any] = {
        "biocoreset_viz_version": __version__,
        "status": "scoring",
        "started": _now(),
        "model": {
            "name": model_name,
            "sha256": identity["model_sha256"],
            "architecture": "esm2" if is_esm2(model) else "esm1b",
            "layers": len(model.layers),
            "embed_dim": int(model.embed_tokens.embedding_dim),
        },
        "alphabet": list(alphabet.all_toks),
        "molecule": alphabet_molecule(alphabet),
        "input": input_record,
        "config": config.to_dict(),
        "targets": targets,
        "damping_value": fisher.damping_value(config.damping, config.damping_mode),
        "fisher": {
            "file": FISHER_NAME,
            "sha256": identity["fisher_sha256"],
            "subset_size": fisher.n_sequences,
            "subset_seed": fisher.metadata.get("subset_seed"),
            "subset_ids_file": FISHER_SUBSET_NAME,
        },
        "max_length": max_length,
        "identity": identity,
        **(extra_manifest or {}),
    }
    if manifest_path.exists():
        manifest["started"] = read_json(manifest_path).get("started", manifest["started"])
    write_json(manifest_path, manifest)
    if not (run_dir / FISHER_NAME).exists():
        fisher.save(run_dir / FISHER_NAME)
        _write_subset_ids(run_dir, fisher)
    return manifest


def complete_score_manifest(
    run_dir: Path, manifest: dict[str, Any], *, scored: int, truncated: int
) -> None:
    """Mark a scoring run complete in its manifest, with its counts."""
    manifest.update(
        status="complete",
        finished=_now(),
        counts={"scored": scored, "truncated": truncated, "skipped": 0},
    )
    write_json(run_dir / MANIFEST_NAME, manifest)


def _write_subset_ids(run_dir: Path, fisher: DiagonalFisher) -> None:
    ids = fisher.metadata.get("subset_ids") or []
    atomic_write_bytes(run_dir / FISHER_SUBSET_NAME, ("\n".join(ids) + "\n").encode())


# ---------------------------------------------------------------------------- the whole run


@dataclass
class FinetuneSettings:
    """The optional MLM fine-tune on the Fisher subset (design §2)."""

    epochs: int = field(default=1, metadata=_help("passes over the Fisher subset; 0 skips it"))
    learning_rate: float = field(default=1e-4, metadata=_help("peak AdamW learning rate"))

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 0:
            raise ConfigError(f"finetune epochs must be an integer >= 0, got {self.epochs!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"finetune learning_rate must be > 0, got {self.learning_rate!r}")


def _fisher_stage_identity(
    base_sha: str, input_sha: str, config: InfluenceConfig, settings: FinetuneSettings
) -> dict[str, Any]:
    return {
        "base_model_sha256": base_sha,
        "input_sha256": input_sha,
        "score_config": config.score_key(),
        "finetune": dataclasses.asdict(settings),
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
    3. Score every sequence into Parquet shards (:func:`score`).

    Running it again with the same arguments reuses the finished stages and
    continues the scoring; other settings are refused unless ``overwrite=True``.

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
    from biocoreset_viz.models import load_model

    config = config or InfluenceConfig()
    settings = finetune_settings or FinetuneSettings()
    run_dir = Path(run_dir)
    _ensure_writable(run_dir)
    if isinstance(model, tuple):
        network, alphabet = model
        model_name = getattr(network, "biocoreset_source", None)
    else:
        network, alphabet = load_model(model)
        model_name = str(model)
    _check_not_empty(sequences)
    check_molecule(alphabet, sequences)
    resolve_targets(network, config.target)  # fail fast on a bad target
    _check_truncation(sequences, config, effective_max_length(network, config))
    fisher, finetune_summary = fisher_stage(
        network,
        alphabet,
        run_dir,
        config,
        settings,
        n_pool=len(sequences),
        input_sha256=input_fingerprint(sequences),
        subset_sequences=sequences.subset,
        overwrite=overwrite,
        progress=progress,
    )
    return score(
        network,
        fisher,
        sequences,
        config,
        run_dir,
        alphabet=alphabet,
        model_name=model_name,
        overwrite=overwrite,
        progress=progress,
        extra_manifest={"finetune": finetune_summary},
    )


def fisher_stage(
    network: nn.Module,
    alphabet,
    run_dir: Path,
    config: InfluenceConfig,
    settings: FinetuneSettings,
    *,
    n_pool: int,
    input_sha256: str,
    subset_sequences: Callable[[np.ndarray], SequenceSet],
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[DiagonalFisher, dict[str, Any]]:
    """Stages 1 and 2 of :func:`score_run`, reused when finished: fine-tune, then Fisher.

    Needs only the pool's size and fingerprint and a way to fetch the subset's
    sequences, so an engine that streams the pool (the Ray engine) runs the very
    same stage: the subset is ``fisher_subset_indices(n_pool, ...)`` either way and
    the Fisher is fitted on the subset's sequences in pool order.

    Args:
        network: the model, fine-tuned in place (or loaded with the saved fine-tuned
            weights when the stage is already done).
        subset_sequences: pool indices (sorted) -> those sequences, in that order.

    Returns:
        The Fisher and the fine-tune summary for the manifest.
    """
    max_length = effective_max_length(network, config)
    identity = _fisher_stage_identity(model_fingerprint(network), input_sha256, config, settings)
    fisher_path = run_dir / FISHER_NAME
    finetuned_path = run_dir / FINETUNED_NAME
    fisher = DiagonalFisher.load(fisher_path) if DiagonalFisher.exists(fisher_path) else None
    if fisher is not None and fisher.metadata.get("stage_identity") != identity:
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

    finetune_log: list[dict] = []
    if fisher is None:
        subset = fisher_subset_indices(n_pool, config.fisher_subset, config.seed)
        subset_set = subset_sequences(subset)
        if settings.epochs:
            finetune_log = finetune(
                network,
                subset_set,
                alphabet=alphabet,
                epochs=settings.epochs,
                learning_rate=settings.learning_rate,
                max_tokens=config.max_tokens,
                max_length=max_length,
                seed=config.seed,
                device=config.device,
                progress=progress,
            )
            _save_state(network, finetuned_path)
        # The subset alone, in pool order, batches exactly as the subset of the pool would.
        fisher = fit_fisher(
            network,
            subset_set,
            config,
            alphabet=alphabet,
            subset=np.arange(len(subset_set)),
            progress=progress,
        )
        fisher.metadata["stage_identity"] = identity
        fisher.metadata["finetune_log"] = finetune_log
        fisher.save(fisher_path)
        _write_subset_ids(run_dir, fisher)
    elif settings.epochs:
        if not finetuned_path.exists():
            raise RunDirectoryError(
                f"{run_dir}: {FINETUNED_NAME} is missing; rerun with --overwrite"
            )
        network.load_state_dict(torch.load(finetuned_path, map_location="cpu", weights_only=True))
    log = fisher.metadata.get("finetune_log") or []
    finetune_summary = {
        **dataclasses.asdict(settings),
        "steps": len([row for row in log if row.get("step", 0) > 0]),
        "first_loss": next((row["loss"] for row in log if row.get("step", 0) > 0), None),
        "last_loss": log[-1]["loss"] if log else None,
        "weights_file": FINETUNED_NAME if settings.epochs else None,
    }
    return fisher, finetune_summary
