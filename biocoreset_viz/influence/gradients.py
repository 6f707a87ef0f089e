"""Per-sample gradients of the target parameters, one batch at a time, no Python loop.

The LM head's dense layer has a closed form, ``G_i = delta_i^T h_i`` (delta the
gradient at the layer's output, h its input); every other target goes through
``torch.func.vmap(grad_and_value(...))`` over a forward without data-dependent
branches. Both return the losses and the mean-pooled embeddings too.

Every model family (:mod:`biocoreset_viz.models.family`) runs through its adapter:
``h = family.hidden_states(tokens)``, the dense layer ``family.dense`` and the rest
of the head ``family.head_after_dense``; fair-esm models keep the fast encoder of
:mod:`biocoreset_viz.forward` (:func:`~biocoreset_viz.influence.encoder.encode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from biocoreset_viz.forward import encoder_features, lm_logits, mean_pool
from biocoreset_viz.influence.encoder import ForwardOptions, encode
from biocoreset_viz.influence.losses import LossBatch, weighted_cross_entropy
from biocoreset_viz.influence.targets import check_precision, model_layout
from biocoreset_viz.models import FamilyLogits, ModelFamily


@dataclass
class PerSampleResult:
    """Per-sample gradients, losses and embeddings of one batch."""

    gradients: dict[str, torch.Tensor]  # name -> (B, *shape)
    losses: torch.Tensor  # (B,)
    embeddings: torch.Tensor  # (B, D)


def _closed_form(
    model: nn.Module,
    batch: LossBatch,
    targets: Sequence[str],
    options: ForwardOptions,
    family: ModelFamily,
) -> PerSampleResult:
    """Gradients of the LM head's dense layer from ``delta^T h`` (no per-sample loop).

    Only the encoder follows ``options`` (bf16 autocast, packing, compilation): the
    dense layer, the LM head, the loss and ``delta^T h`` run in the model's dtype
    (float32 or float64), so the per-sample gradients are accumulated at full precision.
    """
    b, m, t = batch.inputs.shape
    dense = family.dense
    with torch.no_grad():
        features = encode(
            model, batch.inputs.view(b * m, t), options, batch.packed_inputs, family
        )  # (B*m, T, D)
        pre_activation = dense(features)  # (B*m, T, D)
        if m == 1:
            embeddings = mean_pool(features, batch.residue_mask)
        else:
            unmasked = encode(model, batch.tokens, options, batch.packed_tokens, family)
            embeddings = mean_pool(unmasked, batch.residue_mask)  # (B, D)
    z = pre_activation.detach().requires_grad_(True)
    logits = family.head_after_dense(z)  # (B*m, T, V)
    targets_tokens = batch.tokens.unsqueeze(1).expand(b, m, t).reshape(b * m, t)
    losses = weighted_cross_entropy(logits, targets_tokens, batch.weights.view(b * m, t))
    losses = losses.view(b, m).sum(1)  # (B,)
    (delta,) = torch.autograd.grad(losses.sum(), z)  # (B*m, T, D), per sequence: d l_i / d z_i
    delta = delta.view(b, m * t, -1)
    gradients = {}
    weight, bias = f"{family.dense_name}.weight", f"{family.dense_name}.bias"
    if weight in targets:
        gradients[weight] = delta.transpose(1, 2) @ features.view(b, m * t, -1)  # (B, D, D)
    if bias in targets:
        gradients[bias] = delta.sum(1)  # (B, D)
    return PerSampleResult(gradients, losses.detach(), embeddings)


class _LogitsModule(nn.Module):
    """Wraps a fair-esm model so ``torch.func.functional_call`` runs our branch-free forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return lm_logits(self.model, encoder_features(self.model, tokens, attention="math"))


def _functional(
    model: nn.Module,
    batch: LossBatch,
    targets: Sequence[str],
    options: ForwardOptions,
    family: ModelFamily,
) -> PerSampleResult:
    """Per-sample gradients of any parameters with ``torch.func.vmap(grad_and_value)``.

    Packing and compilation apply to the embedding pass only, since ``vmap`` needs
    one padded row per sample; bfloat16 autocast is refused (autograd under ``vmap``
    mixes dtypes), see :func:`check_precision`.
    """
    wrapper = _LogitsModule(model) if family.fast_encoder else FamilyLogits(family)
    frozen = {f"model.{n}": p.detach() for n, p in model.named_parameters()}
    target_params = {f"model.{n}": frozen.pop(f"model.{n}") for n in targets}

    def loss_of_one(params, inputs, tokens, weights):  # inputs (m, T), tokens (T,), weights (m, T)
        logits = torch.func.functional_call(wrapper, {**frozen, **params}, (inputs,))  # (m, T, V)
        return weighted_cross_entropy(logits, tokens.expand_as(inputs), weights).sum()

    per_sample = torch.func.vmap(torch.func.grad_and_value(loss_of_one), in_dims=(None, 0, 0, 0))
    with family.functional_forward():
        gradients, losses = per_sample(target_params, batch.inputs, batch.tokens, batch.weights)
    with torch.no_grad():
        embedding_layout = batch.packed_tokens
        if embedding_layout is None and batch.inputs.shape[1] == 1:
            embedding_layout = batch.packed_inputs  # unmasked inputs are the tokens
        features = encode(model, batch.tokens, options, embedding_layout, family)
        embeddings = mean_pool(features, batch.residue_mask)
    return PerSampleResult(
        {n.removeprefix("model."): g for n, g in gradients.items()}, losses.detach(), embeddings
    )


def per_sample_gradients(
    model: nn.Module,
    batch: LossBatch,
    targets: Sequence[str],
    options: ForwardOptions | None = None,
    family: ModelFamily | None = None,
) -> PerSampleResult:
    """Per-sample gradients of ``targets`` for one batch (closed form where possible).

    ``options`` (default: the exact full-precision padded forward) selects the GPU
    fast path; see :class:`ForwardOptions`. ``family``: the model's family adapter
    (default: found from the model).
    """
    options = options or ForwardOptions()
    family = family if family is not None else model_layout(model)
    closed_form = family.closed_form_targets()
    check_precision(targets, options.precision, closed_form)
    if set(targets) <= closed_form:
        return _closed_form(model, batch, targets, options, family)
    return _functional(model, batch, targets, options, family)
