"""The public brute force: the engine's truncation, plain strings, both damping modes."""

from __future__ import annotations

import numpy as np
import torch
from support.influence import random_pool, tiny_esm2

from biocoreset_viz.influence import (
    InfluenceConfig,
    brute_force_gradients,
    brute_force_self_influence,
    fit_fisher,
    score,
)
from biocoreset_viz.models import rna_alphabet


def test_public_brute_force_truncates_like_the_engine_and_takes_strings(tmp_path):
    model, alphabet = tiny_esm2(), rna_alphabet()
    pool = random_pool(6, 15, 40, seed=12)
    config = InfluenceConfig(dtype="float64", fisher_subset=6, max_length=10, damping=1e-3)
    _, influence = brute_force_self_influence(model, pool, config, alphabet=alphabet)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert table.frame["truncated"].all()
    np.testing.assert_allclose(influence.numpy(), table.scores, rtol=1e-6)
    gradients = brute_force_gradients(model, pool.sequences, config, alphabet=alphabet)
    assert gradients.shape == (6, 16 * 16) and gradients.dtype == torch.float64
    relative = InfluenceConfig(**{**config.to_dict(), "damping_mode": "relative"})
    fisher_values, relative_influence = brute_force_self_influence(
        model, pool, relative, alphabet=alphabet, subset=np.arange(3)
    )
    torch.testing.assert_close(fisher_values, gradients[:3].square().mean(0))
    expected = (gradients.square() / (fisher_values + 1e-3 * fisher_values.mean())).sum(1)
    torch.testing.assert_close(relative_influence, expected)
