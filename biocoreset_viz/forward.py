"""A forward pass equivalent to fair-esm's, written for per-sample gradients and speed.

fair-esm's own ``forward`` branches on tensor values (``if not padding_mask.any()``),
which ``torch.func.vmap`` rejects, and computes attention probabilities in float32
even for float64 models. :func:`encoder_features` computes the same function from
the same modules without data-dependent control flow, in the model's own dtype
(float32 softmax for half precision), and can use the fused
``scaled_dot_product_attention`` kernel.

Supported: ESM-2 (``esm.model.esm2.ESM2``: rotary attention, token dropout) and
ESM-1b-style models (``esm.model.esm1.ProteinBertModel`` with ``arch="roberta_large"``,
as RNA-FM: learned positions, optional ``emb_layer_norm_before``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Attention = Literal["math", "sdpa"]
# fair-esm's token dropout rescales embeddings by the masking ratio seen in training.
_TRAINING_MASK_RATIO = 0.15 * 0.8


def is_esm2(model: nn.Module) -> bool:
    """Whether ``model`` is an ESM-2 (rotary) rather than an ESM-1b-style model."""
    return hasattr(model, "num_layers") and not hasattr(model, "embed_positions")


def uses_token_dropout(model: nn.Module) -> bool:
    """Whether the model rescales embeddings for ``<mask>`` tokens (fair-esm token dropout)."""
    if is_esm2(model):
        return bool(model.token_dropout)
    return bool(getattr(model.args, "token_dropout", False))


def max_positions(model: nn.Module) -> int | None:
    """Longest token sequence (BOS and EOS included) the model accepts, or ``None``."""
    if is_esm2(model):
        return None
    return int(model.embed_positions.max_positions)


def _rotary_tables(attention: nn.Module, length: int, like: torch.Tensor):
    """``cos`` and ``sin`` tables ``(T, Dh)`` as fair-esm's RotaryEmbedding builds them."""
    inv_freq = attention.rot_emb.inv_freq
    positions = torch.arange(length, device=inv_freq.device).type_as(inv_freq)
    freqs = torch.outer(positions, inv_freq)  # (T, Dh/2)
    angles = torch.cat((freqs, freqs), dim=-1)  # (T, Dh)
    return angles.cos().to(like.dtype), angles.sin().to(like.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def _self_attention(
    attention: nn.Module, x: torch.Tensor, padding_mask: torch.Tensor, kind: Attention
) -> torch.Tensor:
    """Multi-head self-attention of fair-esm's ``MultiheadAttention`` on ``(B, T, E)``."""
    if attention.bias_k is not None or attention.add_zero_attn:
        raise NotImplementedError("attention with bias_kv or zero_attn (ESM-1) is not supported")
    batch, length, width = x.shape
    heads = attention.num_heads
    head_dim = width // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, head_dim).transpose(1, 2)  # (B, H, T, Dh)

    q = split(attention.q_proj(x))
    k = split(attention.k_proj(x))
    v = split(attention.v_proj(x))
    if attention.rot_emb is not None:
        cos, sin = _rotary_tables(attention, length, q)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
    key_is_pad = padding_mask[:, None, None, :]  # (B, 1, 1, T)
    if kind == "sdpa":
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=~key_is_pad)
    else:
        scores = (q * attention.scaling) @ k.transpose(-1, -2)  # (B, H, T, T)
        scores = scores.masked_fill(key_is_pad, float("-inf"))
        softmax_dtype = torch.float32 if scores.dtype in (torch.float16, torch.bfloat16) else None
        probs = scores.softmax(dim=-1, dtype=softmax_dtype).to(v.dtype)
        context = probs @ v  # (B, H, T, Dh)
    context = context.transpose(1, 2).reshape(batch, length, width)  # (B, T, E)
    return attention.out_proj(context)


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x)  # exact (erf) GELU, as fair-esm's


def encoder_features(
    model: nn.Module, tokens: torch.Tensor, *, attention: Attention = "math"
) -> torch.Tensor:
    """Final-layer features of the model, the input of its LM head.

    Equals fair-esm's ``model(tokens, repr_layers=[L])["representations"][L]`` (after
    the final layer norm) at every non-padding position.

    Args:
        model: an ESM-2 or ESM-1b-style fair-esm model.
        tokens: ``(B, T)`` token ids, padded with the alphabet's padding index.
        attention: ``"math"`` (exact, works under ``torch.func``) or ``"sdpa"`` (fused).

    Returns:
        ``(B, T, D)`` features.
    """
    padding_mask = tokens.eq(model.padding_idx)  # (B, T)
    x = model.embed_scale * model.embed_tokens(tokens)  # (B, T, D)
    if uses_token_dropout(model):
        is_mask = tokens.eq(model.mask_idx)
        x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
        real = (~padding_mask).sum(-1)
        observed = is_mask.sum(-1).to(x.dtype) / real
        x = x * (1 - _TRAINING_MASK_RATIO) / (1 - observed)[:, None, None]
    if not is_esm2(model):
        not_pad = (~padding_mask).long()
        positions = torch.cumsum(not_pad, dim=1) * not_pad + model.padding_idx
        x = x + model.embed_positions.weight[positions]
        if model.emb_layer_norm_before is not None:
            x = model.emb_layer_norm_before(x)
    x = x * (~padding_mask).unsqueeze(-1).to(x.dtype)
    for layer in model.layers:
        x = x + _self_attention(
            layer.self_attn, layer.self_attn_layer_norm(x), padding_mask, attention
        )
        x = x + layer.fc2(_gelu(layer.fc1(layer.final_layer_norm(x))))
    return model.emb_layer_norm_after(x)


def lm_logits(model: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """``(B, T, V)`` logits of the LM head for ``(B, T, D)`` features."""
    return model.lm_head(features)


def mean_pool(features: torch.Tensor, residue_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(B, T, D)`` features over the positions where ``residue_mask`` ``(B, T)`` is true."""
    weights = residue_mask.to(features.dtype).unsqueeze(-1)  # (B, T, 1)
    return (features * weights).sum(1) / weights.sum(1).clamp_min(1)
