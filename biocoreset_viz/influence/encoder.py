"""The encoder pass of scoring, with the GPU fast-path switches (:class:`ForwardOptions`).

For fair-esm models the default is the exact padded forward of
:func:`biocoreset_viz.forward.encoder_features`; bfloat16 autocast, padding-free
packing and ``torch.compile`` are optional and change only floating-point rounding.
Every other model family runs its own forward
(:meth:`~biocoreset_viz.models.ModelFamily.hidden_states`), under bfloat16 autocast
when asked; packing and compilation are fair-esm's fast path only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.forward import (
    PackedTokens,
    encoder_features,
    packed_encoder_features,
    precision_context,
    unpack_features,
)

if TYPE_CHECKING:
    from biocoreset_viz.models import ModelFamily


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
    family: ModelFamily | None = None,
) -> torch.Tensor:
    """``(B, T, D)`` final-layer features for scoring (no gradient taken through them).

    With the default options this is exactly ``encoder_features(model, tokens,
    attention="sdpa")`` for a fair-esm model, ``family.hidden_states(tokens)`` for
    another family. ``options.precision="bf16"`` autocasts the encoder;
    ``packed`` (the packed layout of ``tokens``, when ``options.packing``) runs it
    padding-free, with zeros at the padding positions of the result;
    ``options.compile`` runs a compiled encoder. The result is in the model's dtype.

    Raises:
        ConfigError: packing or compilation for a family other than fair-esm.
    """
    options = options or ForwardOptions()
    dtype = next(model.parameters()).dtype
    if family is not None and not family.fast_encoder:
        if options.packing or options.compile:
            raise ConfigError(f"packing and compile are for fair-esm models, not {family.name}")
        with precision_context(options.precision, tokens.device):
            return family.hidden_states(tokens).to(dtype)  # (B, T, D)
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
