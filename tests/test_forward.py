"""The fast forward paths against fair-esm's stock forward: float32 (tight), packed
(exact up to rounding) and bfloat16 autocast (within bfloat16's error).

Tolerances, with u the unit roundoff (float32: 2^-24 = 6e-8; bfloat16: 2^-9 = 2e-3):

* float32, our forward vs stock: the same operations in another order (fused
  attention, no in-place scaling), so the difference is a few u per layer times the
  growth of the residual stream: bounded by 2e-5 relative to the largest feature
  (observed 2e-7 to 9e-7 on these models).
* packed vs padded in float64: the same arithmetic on differently shaped arrays:
  1e-12 absolute (observed ~1e-15).
* bfloat16 autocast vs stock float32: every matrix product rounds its inputs to
  bfloat16 (relative error u each) and accumulates in float32; the residual stream
  stays float32, so the errors add over layers rather than compound: bounded by
  2e-2 relative (Frobenius norm; observed 2.5e-3 to 6.6e-3 for these 4-layer models) and, so that the
  test cannot pass with autocast silently off, at least 1e-4.
"""

from __future__ import annotations

import pytest
import torch

from biocoreset_viz.forward import (
    encoder_features,
    lm_logits,
    pack_tokens,
    packed_encoder_features,
    precision_context,
    unpack_features,
)
from biocoreset_viz.models import build_esm1b, build_esm2, encode_batch, rna_alphabet

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SEQUENCES = ["ACGUAGGACGUAGGCC" * 5, "GGCAU", "ACGUACGUACGG" * 3, "A", "UUAGC" * 9]


def esm2_model() -> torch.nn.Module:
    return build_esm2(4, 64, 4, rna_alphabet(), seed=3)


def esm1b_model() -> torch.nn.Module:
    """An RNA-FM-style (ESM-1b architecture) model: learned positions, no token dropout."""
    return build_esm1b(4, 64, 4, rna_alphabet(), ffn_embed_dim=128, max_positions=256, seed=5)


ARCHITECTURES = pytest.mark.parametrize(
    "architecture", [esm2_model, esm1b_model], ids=["esm2", "esm1b-rna-fm"]
)


def batch(with_mask: bool = True) -> torch.Tensor:
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, SEQUENCES)  # (B, T), right-padded
    if with_mask:
        tokens[0, 3] = alphabet.mask_idx  # exercises ESM-2's token dropout rescaling
        tokens[2, 7] = alphabet.mask_idx
    return tokens


def stock(model: torch.nn.Module, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """fair-esm's own forward: final-layer representation and logits."""
    layers = len(model.layers)
    with torch.no_grad():
        output = model(tokens, repr_layers=[layers])
    return output["representations"][layers], output["logits"]


def packed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    layout = pack_tokens(tokens, model.padding_idx)
    return unpack_features(packed_encoder_features(model, layout), layout)


@ARCHITECTURES
@pytest.mark.parametrize("path", ["math", "sdpa", "packed"])
def test_float32_forward_matches_stock_fair_esm(architecture, path):
    model, tokens = architecture(), batch()
    expected, expected_logits = stock(model, tokens)
    with torch.no_grad():
        ours = (
            packed(model, tokens)
            if path == "packed"
            else encoder_features(model, tokens, attention=path)
        )
        logits = lm_logits(model, ours)
    real = tokens.ne(model.padding_idx)
    scale = expected[real].abs().max()
    assert (ours - expected)[real].abs().max() <= 2e-5 * scale
    assert (logits - expected_logits)[real].abs().max() <= 2e-5 * expected_logits[real].abs().max()


@ARCHITECTURES
def test_packed_forward_equals_padded_forward_in_float64(architecture):
    model, tokens = architecture().double(), batch()
    with torch.no_grad():
        padded = encoder_features(model, tokens, attention="sdpa")
        ours = packed(model, tokens)
    real = tokens.ne(model.padding_idx)
    assert (ours - padded)[real].abs().max() <= 1e-12
    assert ours[~real].abs().max() == 0  # padding positions are zeros, never computed


def test_pack_tokens_lays_sequences_end_to_end():
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, ["ACG", "A", "ACGUA"])  # 5, 3 and 7 tokens
    layout = pack_tokens(tokens, alphabet.padding_idx)
    assert layout.offsets.tolist() == [0, 5, 8, 15]
    assert layout.row.tolist() == [0] * 5 + [1] * 3 + [2] * 7
    assert layout.position.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4, 5, 6]
    assert (layout.max_length, layout.min_length, layout.padded_length) == (7, 3, 7)
    assert torch.equal(layout.values, tokens[tokens.ne(alphabet.padding_idx)])
    left_padded = tokens.flip(1)
    with pytest.raises(ValueError, match="right-padded"):
        pack_tokens(left_padded, alphabet.padding_idx)


def relative_error(ours: torch.Tensor, expected: torch.Tensor, real: torch.Tensor) -> float:
    return float((ours.float() - expected)[real].norm() / expected[real].norm())


@ARCHITECTURES
@pytest.mark.parametrize("path", ["sdpa", "packed"])
def test_bf16_autocast_forward_is_within_bfloat16_error(architecture, path):
    model, tokens = architecture(), batch()
    expected, _ = stock(model, tokens)
    with torch.no_grad(), precision_context("bf16", "cpu"):
        ours = (
            packed(model, tokens)
            if path == "packed"
            else encoder_features(model, tokens, attention="sdpa")
        )
    assert ours.dtype == torch.float32  # the final layer norm runs in float32
    error = relative_error(ours, expected, tokens.ne(model.padding_idx))
    assert 1e-4 <= error <= 2e-2


def test_full_precision_context_changes_nothing():
    model, tokens = esm2_model(), batch()
    with torch.no_grad():
        plain = encoder_features(model, tokens, attention="sdpa")
        with precision_context("full", "cpu"):
            again = encoder_features(model, tokens, attention="sdpa")
    assert torch.equal(plain, again)
    with pytest.raises(ValueError, match="precision must be"):
        precision_context("fp8", "cpu")


# ------------------------------------------------------------------------- on a GPU


@CUDA
@ARCHITECTURES
@pytest.mark.parametrize("path", ["sdpa", "packed"])
def test_cuda_float32_forward_matches_stock_fair_esm(architecture, path):
    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default: full float32 products
    model, tokens = architecture().cuda(), batch().cuda()
    expected, _ = stock(model, tokens)
    with torch.no_grad():
        ours = (
            packed(model, tokens)
            if path == "packed"
            else encoder_features(model, tokens, attention="sdpa")
        )
    real = tokens.ne(model.padding_idx)
    assert (ours - expected)[real].abs().max() <= 1e-4 * expected[real].abs().max()


@CUDA
@ARCHITECTURES
@pytest.mark.parametrize("path", ["sdpa", "packed"])
def test_cuda_bf16_forward_is_within_bfloat16_error(architecture, path):
    """On CUDA in bfloat16 the packed path runs the variable-length flash kernel."""
    model, tokens = architecture().cuda(), batch().cuda()
    expected, _ = stock(model, tokens)
    with torch.no_grad(), precision_context("bf16", "cuda"):
        ours = (
            packed(model, tokens)
            if path == "packed"
            else encoder_features(model, tokens, attention="sdpa")
        )
    error = relative_error(ours, expected, tokens.ne(model.padding_idx))
    assert 1e-4 <= error <= 2e-2
