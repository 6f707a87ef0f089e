"""Per-sample gradients, Fisher and scores against the float64 brute force, and our
forward against fair-esm's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.influence import random_pool, tiny_esm1b, tiny_esm2

from biocoreset_viz.forward import encoder_features
from biocoreset_viz.influence import (
    InfluenceConfig,
    brute_force_self_influence,
    fisher_subset_indices,
    fit_fisher,
    resolve_targets,
    score,
)
from biocoreset_viz.models import encode_batch, rna_alphabet

TARGETS = [
    "lm_head.dense.weight",
    "lm_head",
    "last_block",
    "all",
    ["lm_head.dense.weight", "layers.0.fc1.bias"],
    r"layers\.1\.self_attn\.(q|k)_proj\.weight",
]


LOSSES = [
    {"loss": "reconstruction"},
    {"loss": "mlm", "mlm_draws": 3},
    {"loss": "reconstruction", "reference_padding": True, "reference_window": 40},
]


@pytest.mark.parametrize("architecture", [tiny_esm2, tiny_esm1b], ids=["esm2", "esm1b"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: str(t)[:24])
@pytest.mark.parametrize("loss", LOSSES, ids=["reconstruction", "mlm", "reference_padding"])
def test_engine_matches_float64_brute_force(tmp_path, float64_softmax, architecture, target, loss):
    model = architecture()
    alphabet = rna_alphabet()
    pool = random_pool(9, 3, 30, seed=3)
    config = InfluenceConfig(target=target, dtype="float64", fisher_subset=5, max_tokens=80, **loss)
    subset = fisher_subset_indices(len(pool), config.fisher_subset, config.seed)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)

    expected_fisher, expected_influence = brute_force_self_influence(
        model, pool, config, alphabet=alphabet, subset=subset
    )
    names = resolve_targets(model, target)
    engine_fisher = torch.cat([fisher.values[n].reshape(-1) for n in names])
    fisher_error = (engine_fisher - expected_fisher).abs().max() / expected_fisher.abs().max()
    influence_error = np.max(
        np.abs(table.scores - expected_influence.numpy()) / expected_influence.numpy()
    )
    assert fisher_error <= 1e-6
    assert influence_error <= 1e-6


def test_stock_fair_esm_reference_agrees_within_its_float32_softmax(tmp_path):
    """Without the float64 softmax the stock forward differs by float32 rounding only."""
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(6, 3, 25, seed=4)
    config = InfluenceConfig(dtype="float64", fisher_subset=6)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    _, expected = brute_force_self_influence(
        model, pool, config, alphabet=alphabet, subset=np.arange(6)
    )
    assert np.max(np.abs(table.scores - expected.numpy()) / expected.numpy()) <= 1e-6


@pytest.mark.parametrize("architecture", [tiny_esm2, tiny_esm1b], ids=["esm2", "esm1b"])
def test_our_forward_equals_fair_esm(float64_softmax, architecture):
    model, alphabet = architecture(), rna_alphabet()
    tokens = encode_batch(alphabet, ["ACGUAGG", "GGCAU", "ACGUACGUACGG"])
    tokens[0, 2] = alphabet.mask_idx  # token dropout path
    with torch.no_grad():
        layers = len(model.layers)
        expected = model(tokens, repr_layers=[layers])["representations"][layers]
        for attention in ("math", "sdpa"):
            ours = encoder_features(model, tokens, attention=attention)
            real = tokens.ne(alphabet.padding_idx)
            assert (ours - expected)[real].abs().max() < 1e-12
