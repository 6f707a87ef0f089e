"""Scoring: invariant to batching and order, embeddings as fair-esm's, truncation counted,
the loss reduction and the gradient norm as the brute force computes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.influence import random_pool, tiny_esm2

from biocoreset_viz.influence import InfluenceConfig, fit_fisher, score, score_run
from biocoreset_viz.models import build_esm2, encode_batch, rna_alphabet
from biocoreset_viz.sequences import SequenceSet


@pytest.mark.parametrize("loss", ["reconstruction", "mlm"])
@pytest.mark.parametrize("target", ["lm_head.dense.weight", "last_block"])
def test_scores_do_not_depend_on_batch_size_or_order(tmp_path, loss, target):
    model, alphabet = tiny_esm2(), rna_alphabet()
    pool = random_pool(20, 2, 40, seed=5)
    base = InfluenceConfig(target=target, loss=loss, dtype="float64", fisher_subset=8, mlm_draws=2)
    fisher = fit_fisher(model, pool, base, alphabet=alphabet, progress=False)
    reference = score(model, fisher, pool, base, tmp_path / "a", alphabet=alphabet, progress=False)

    small_batches = InfluenceConfig(**{**base.to_dict(), "max_tokens": 45, "shard_size": 3})
    order = np.random.default_rng(0).permutation(len(pool))
    shuffled = pool.subset(order)
    other = score(
        model, fisher, shuffled, small_batches, tmp_path / "b", alphabet=alphabet, progress=False
    )
    by_id = dict(zip(other.ids, other.scores, strict=True))
    np.testing.assert_allclose([by_id[i] for i in reference.ids], reference.scores, rtol=1e-10)
    losses = dict(zip(other.ids, other.frame["loss"], strict=True))
    np.testing.assert_allclose(
        [losses[i] for i in reference.ids], reference.frame["loss"], rtol=1e-10
    )


def test_embedding_equals_mean_pooled_stock_representation(tmp_path):
    model, alphabet = build_esm2(2, 32, 4, rna_alphabet(), seed=3), rna_alphabet()
    pool = random_pool(7, 4, 50, seed=7)
    config = InfluenceConfig(fisher_subset=7)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    for row, sequence in enumerate(pool.sequences):
        tokens = encode_batch(alphabet, [sequence])
        with torch.no_grad():
            representation = model(tokens, repr_layers=[2])["representations"][2][0]
        expected = representation[1 : len(sequence) + 1].mean(0).numpy()  # residues only
        np.testing.assert_allclose(
            table.embeddings[row].astype(np.float32), expected, rtol=2e-3, atol=2e-3
        )
    assert table.embeddings.dtype == np.float16


def test_long_sequences_are_truncated_and_counted(tmp_path):
    model, alphabet = build_esm2(1, 16, 2, rna_alphabet(), seed=0), rna_alphabet()
    pool = SequenceSet.from_sequences(["ACGU" * 10, "ACG", "GGCCA" * 4], molecule="rna")
    config = InfluenceConfig(max_length=12, fisher_subset=3)
    table = score_run(pool, (model, alphabet), tmp_path, config, progress=False)
    assert table.frame["truncated"].tolist() == [True, False, True]
    assert table.frame["length"].tolist() == [40, 3, 20]  # the original length is kept
    assert table.manifest["counts"]["truncated"] == 2


@pytest.mark.parametrize("loss", ["reconstruction", "mlm"])
def test_the_sum_reduction_and_the_gradient_norm_equal_the_brute_force(tmp_path, loss):
    """``reduction='sum'`` sums a sequence's token losses (the brute force writes it out);
    ``gradient_norm`` is ``||g||``, from the same pass; the manifest says what each holds."""
    from biocoreset_viz.influence import brute_force_gradients, brute_force_self_influence

    model, alphabet = tiny_esm2(), rna_alphabet()
    pool = random_pool(6, 10, 40, seed=5)
    config = InfluenceConfig(dtype="float64", fisher_subset=6, loss=loss, reduction="sum")
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    _, influence = brute_force_self_influence(model, pool, config, alphabet=alphabet)
    np.testing.assert_allclose(table.scores, influence.numpy(), rtol=1e-6)
    gradients = brute_force_gradients(model, pool, config, alphabet=alphabet)
    norms = gradients.square().sum(1).sqrt().numpy()
    np.testing.assert_allclose(table.frame["gradient_norm"], norms, rtol=1e-6)
    assert "gradient_norm" not in table.label_columns
    assert table.manifest["identity"]["score_settings"]["reduction"] == "sum"
    assert "reduction 'sum'" in table.manifest["score_variants"]["loss"]
    # summed over its tokens, a sequence's loss grows with its length; the mean does not
    mean = InfluenceConfig(**{**config.to_dict(), "reduction": "mean"})
    mean_fisher = fit_fisher(model, pool, mean, alphabet=alphabet, progress=False)
    averaged = score(
        model, mean_fisher, pool, mean, tmp_path / "mean", alphabet=alphabet, progress=False
    )
    if loss == "reconstruction":
        per_token = table.frame["loss"] / (table.frame["length"] + 2)  # BOS and EOS count
        np.testing.assert_allclose(per_token, averaged.frame["loss"], rtol=1e-9)
    assert "reduction" not in averaged.manifest["identity"]["score_settings"]
