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

The GPU fast path adds two things, both optional and both equivalent to the padded
forward up to floating-point rounding:

* :func:`packed_encoder_features`: padding-free packing. The sequences of a batch
  are laid end to end (:func:`pack_tokens`), every per-token layer runs on the
  ``(N, D)`` packed tokens only, and attention runs per sequence through nested
  (jagged) tensors, which ``scaled_dot_product_attention`` dispatches to the
  variable-length flash kernel on CUDA (bfloat16) with no padding mask at all.
* :func:`precision_context`: bfloat16 autocast of the matrix products (weights,
  layer norms, softmax statistics and the residual stream stay float32).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from biocoreset_viz.errors import ConfigError, InputError

Attention = Literal["math", "sdpa"]
Precision = Literal["full", "bf16"]
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


def _check_supported(attention: nn.Module) -> None:
    """Refuse the attention variants of ESM-1 (key/value biases, a zero attention slot)."""
    if attention.bias_k is not None or attention.add_zero_attn:
        raise ConfigError("attention with bias_kv or zero_attn (ESM-1) is not supported")


def _self_attention(
    attention: nn.Module, x: torch.Tensor, padding_mask: torch.Tensor, kind: Attention
) -> torch.Tensor:
    """Multi-head self-attention of fair-esm's ``MultiheadAttention`` on ``(B, T, E)``."""
    _check_supported(attention)
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


# ---------------------------------------------------------------------------- fast path


def precision_context(precision: Precision, device: torch.device | str):
    """The autocast context of a precision: ``"full"`` changes nothing.

    ``"bf16"`` runs matrix products (linear layers, attention) in bfloat16 with
    float32 accumulation, on CUDA or on the CPU. The model's weights stay float32,
    and so do layer norms, the softmax of the math attention and the residual
    stream (a float32 residual plus a bfloat16 branch is float32), so errors do
    not compound from layer to layer the way they do in a model cast to bfloat16.
    """
    if precision == "full":
        return contextlib.nullcontext()
    if precision == "bf16":
        device_type = torch.device(device).type
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    raise ConfigError(f"precision must be 'full' or 'bf16', got {precision!r}")


@dataclass(frozen=True)
class PackedTokens:
    """The sequences of a padded batch laid end to end, without padding.

    Attributes:
        values: ``(N,)`` token ids, N = real tokens in the batch (BOS/EOS included).
        offsets: ``(B + 1,)`` int64 start of each sequence in ``values``; the last is N.
        row: ``(N,)`` int64 sequence (row of the padded batch) of each token.
        position: ``(N,)`` int64 position of each token in its sequence (BOS = 0).
        max_length: the longest sequence, in tokens (a Python int, so that building
            nested tensors never waits on the device).
        min_length: the shortest sequence, in tokens.
        padded_length: T, the width of the padded batch it came from.
    """

    values: torch.Tensor
    offsets: torch.Tensor
    row: torch.Tensor
    position: torch.Tensor
    max_length: int
    min_length: int
    padded_length: int

    @property
    def batch_size(self) -> int:
        return int(self.offsets.numel()) - 1

    def to(self, device: torch.device | str) -> PackedTokens:
        """The same layout on ``device`` (lengths stay host integers)."""
        return PackedTokens(
            self.values.to(device),
            self.offsets.to(device),
            self.row.to(device),
            self.position.to(device),
            self.max_length,
            self.min_length,
            self.padded_length,
        )


def pack_tokens(tokens: torch.Tensor, padding_idx: int) -> PackedTokens:
    """Pack a right-padded ``(B, T)`` batch (as ``encode_batch`` makes) into one row.

    Call it where the tokens are made (on the CPU): it reads the lengths, which on
    a GPU would wait for the device.

    Raises:
        InputError: a row has padding before a real token (not right-padded), or is empty.
    """
    real = tokens.ne(padding_idx)  # (B, T)
    lengths = real.sum(1)  # (B,)
    # Right padding means the first `length` positions of each row are the real ones.
    expected = torch.arange(tokens.shape[1], device=tokens.device) < lengths[:, None]
    if not torch.equal(real, expected):
        raise InputError("pack_tokens needs right-padded rows (real tokens first)")
    if bool((lengths == 0).any()):
        raise InputError("pack_tokens: a row holds no real token")
    offsets = torch.zeros(len(lengths) + 1, dtype=torch.long, device=tokens.device)
    offsets[1:] = torch.cumsum(lengths, 0)
    row = torch.repeat_interleave(torch.arange(len(lengths), device=tokens.device), lengths)
    position = torch.arange(int(offsets[-1]), device=tokens.device) - offsets[row]
    return PackedTokens(
        values=tokens[real],  # row-major: each sequence's tokens are contiguous
        offsets=offsets,
        row=row,
        position=position,
        max_length=int(lengths.max()),
        min_length=int(lengths.min()),
        padded_length=int(tokens.shape[1]),
    )


def unpack_features(features: torch.Tensor, packed: PackedTokens) -> torch.Tensor:
    """``(N, D)`` packed features -> ``(B, T, D)``, zeros at the padding positions."""
    padded = features.new_zeros(packed.batch_size, packed.padded_length, features.shape[-1])
    padded[packed.row, packed.position] = features
    return padded


def _packed_self_attention(
    attention: nn.Module, x: torch.Tensor, packed: PackedTokens
) -> torch.Tensor:
    """Self-attention of fair-esm's ``MultiheadAttention`` on packed ``(N, E)`` tokens.

    Each sequence attends to itself only: the heads go through nested (jagged)
    tensors of ``packed.offsets``, so no mask and no padding is ever formed.
    """
    _check_supported(attention)
    tokens, width = x.shape
    heads = attention.num_heads
    head_dim = width // heads
    q = attention.q_proj(x).view(tokens, heads, head_dim)  # (N, H, Dh)
    k = attention.k_proj(x).view(tokens, heads, head_dim)
    v = attention.v_proj(x).view(tokens, heads, head_dim)
    if attention.rot_emb is not None:
        cos, sin = _rotary_tables(attention, packed.max_length, q)  # (Tmax, Dh)
        cos = cos[packed.position].unsqueeze(1)  # (N, 1, Dh): each token's own position
        sin = sin[packed.position].unsqueeze(1)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
    # Autocast may leave q/k (rotated with float32 tables) and v in different dtypes.
    dtype = v.dtype
    q, k = q.to(dtype), k.to(dtype)

    def nested(t: torch.Tensor) -> torch.Tensor:
        jagged = torch.nested.nested_tensor_from_jagged(
            t,
            packed.offsets,
            min_seqlen=packed.min_length,
            max_seqlen=packed.max_length,
        )  # (B, j, H, Dh)
        return jagged.transpose(1, 2)  # (B, H, j, Dh)

    with warnings.catch_warnings():
        # The CPU fallback builds a strided nested tensor internally and warns that
        # its API is a prototype: nothing the caller can act on.
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        context = F.scaled_dot_product_attention(nested(q), nested(k), nested(v))  # (B, H, j, Dh)
    context = context.transpose(1, 2).values()  # (N, H, Dh)
    return attention.out_proj(context.reshape(tokens, width))  # (N, E)


def packed_encoder_features(model: nn.Module, packed: PackedTokens) -> torch.Tensor:
    """:func:`encoder_features` on packed tokens: ``(N, D)`` features, no padding anywhere.

    Equals ``encoder_features(model, tokens)[packed.row, packed.position]`` up to
    floating-point rounding (the same operations on differently shaped arrays).
    """
    tokens = packed.values  # (N,)
    x = model.embed_scale * model.embed_tokens(tokens)  # (N, D)
    if uses_token_dropout(model):
        is_mask = tokens.eq(model.mask_idx)  # (N,)
        x = x.masked_fill(is_mask.unsqueeze(-1), 0.0)
        lengths = packed.offsets.diff()  # (B,)
        masked = x.new_zeros(packed.batch_size).index_add_(0, packed.row, is_mask.to(x.dtype))
        observed = masked / lengths  # (B,) the masking ratio of each sequence
        x = x * (1 - _TRAINING_MASK_RATIO) / (1 - observed)[packed.row].unsqueeze(-1)
    if not is_esm2(model):
        # fair-esm's learned positions start after the padding index.
        x = x + model.embed_positions.weight[packed.position + model.padding_idx + 1]
        if model.emb_layer_norm_before is not None:
            x = model.emb_layer_norm_before(x)
    for layer in model.layers:
        x = x + _packed_self_attention(layer.self_attn, layer.self_attn_layer_norm(x), packed)
        x = x + layer.fc2(_gelu(layer.fc1(layer.final_layer_norm(x))))
    return model.emb_layer_norm_after(x)  # (N, D)
