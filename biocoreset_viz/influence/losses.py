"""The per-sequence loss: tokens, seeded MLM masks and per-position loss weights.

Every loss is written in one form, ``l_i = sum_{d,t} w[i,d,t] * CE(x[i,d], y[i,d])_t``
(:class:`LossBatch`), so the closed-form and the ``torch.func`` gradients, the
Fisher and the scores share it; each sequence's weights depend on that sequence
alone, never on the batch it is in. With ``reduction="mean"`` (the paper) they
sum to 1: the loss is the mean over the counted tokens (the masked ones for
MLM, averaged over the draws). With ``reduction="sum"`` every counted token
weighs 1: the loss is their sum (for MLM, the sum over a draw's masked tokens,
averaged over the draws).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from biocoreset_viz.forward import PackedTokens, pack_tokens
from biocoreset_viz.influence.config import InfluenceConfig, ScoreSettings
from biocoreset_viz.models import encode_batch


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
        weights: ``(B, m, T)`` per-position loss weights; each sequence's sum is 1
            (``reduction="mean"``) or its counted tokens averaged over draws (``"sum"``).
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


def pad_to_window(tokens: torch.Tensor, window: int, padding_idx: int) -> torch.Tensor:
    """``(B, T)`` tokens right-padded to ``(B, window)`` (the published code's layout)."""
    padded = torch.full((tokens.shape[0], window), padding_idx, dtype=torch.long)
    padded[:, : tokens.shape[1]] = tokens
    return padded


def make_loss_batch(
    alphabet,
    sequences: Sequence[str],
    ids: Sequence[str],
    config: ScoreSettings | InfluenceConfig,
    max_length: int,
    *,
    packing: bool | None = None,
) -> LossBatch:
    """Tokenise and build the loss inputs and weights of ``config.loss``.

    ``packing`` (default: the config's own ``packing``, False for bare score
    settings) also lays the batch out padding-free for the packed encoder.
    """
    if packing is None:
        packing = bool(getattr(config, "packing", False))
    tokens = encode_batch(alphabet, sequences, max_length=max_length)  # (B, T)
    if config.reference_padding:
        tokens = pad_to_window(tokens, config.reference_window, alphabet.padding_idx)
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
        weights = selected.double()  # (B, m, T)
    else:
        inputs = tokens.unsqueeze(1)  # (B, 1, T)
        counted = torch.ones_like(tokens, dtype=torch.bool) if config.reference_padding else not_pad
        weights = counted.double().unsqueeze(1)  # (B, 1, T)
    if config.reduction == "mean":
        weights /= weights.sum(-1, keepdim=True)  # a draw's loss: the mean over its tokens
    weights /= weights.shape[1]  # averaged over the m draws (m = 1 without masking)
    batch = LossBatch(tokens, inputs, weights, residue_mask)
    if packing:
        # Packed here, on the CPU, where reading the lengths costs no device sync.
        b, m, t = inputs.shape
        batch.packed_inputs = pack_tokens(inputs.reshape(b * m, t), alphabet.padding_idx)
        if m > 1:
            batch.packed_tokens = pack_tokens(tokens, alphabet.padding_idx)
    return batch


def weighted_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """``sum_t w_t * CE_t`` over the last axis: logits ``(..., T, V)`` -> ``(...)``."""
    ce = F.cross_entropy(
        logits.flatten(0, -2).float() if logits.dtype == torch.bfloat16 else logits.flatten(0, -2),
        targets.flatten(),
        reduction="none",
    ).view(targets.shape)
    return (ce.to(weights.dtype) * weights).sum(-1)
