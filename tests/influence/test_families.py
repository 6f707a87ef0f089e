"""The scoring engine on every model family, against the family's own forward pass.

For a tiny random model of each family (fair-esm ESM-2 and ESM-1b, fairseq RoBERTa,
ESM C, Hugging Face ESM, BERT and RoBERTa) in float64: the engine's Fisher and
self-influence equal the brute force (:mod:`biocoreset_viz.influence.reference`,
which runs the model's own forward, ``family.own_logits``) for the default target and
others; embeddings equal the model's own last hidden state, mean-pooled over the
residues; scores do not depend on the batch size; the run manifest records the
family; a fine-tune runs through the model's own forward.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.influence import random_pool
from support.models import FAMILY_PARAMS, HAS_TRANSFORMERS, tiny_family_model

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.forward import mean_pool
from biocoreset_viz.influence import (
    FinetuneSettings,
    InfluenceConfig,
    brute_force_self_influence,
    fisher_subset_indices,
    fit_fisher,
    make_loss_batch,
    per_sample_gradients,
    plan_scoring,
    resolve_targets,
    score,
    score_run,
)
from biocoreset_viz.models import family_of

PROTEIN_LETTERS = "ACDEFGHIKLMNPQRSTVWY"
# the other targets: the dense layer's bias (closed form) and the last block (torch.func)
OTHER_TARGETS = ["lm_head.dense.bias", "last_block"]


@pytest.fixture(params=FAMILY_PARAMS)
def tiny(request, tmp_path):
    """``(kind, model, alphabet, pool)``: a tiny random float64 model of one family."""
    model, alphabet = tiny_family_model(request.param, tmp_path / "tokenizer")
    model = model.double().eval()
    model.alphabet = alphabet
    letters = "ACGU" if family_of(model).molecule == "rna" else PROTEIN_LETTERS
    return request.param, model, alphabet, random_pool(9, 3, 30, seed=3, letters=letters)


def relative_error(ours, expected) -> float:
    ours, expected = np.asarray(ours, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(ours - expected) / np.abs(expected)))


@pytest.mark.parametrize("target", ["lm_head.dense.weight", *OTHER_TARGETS])
def test_the_engine_equals_the_brute_force_of_the_models_own_forward(
    tmp_path, float64_softmax, tiny, target
):
    kind, model, alphabet, pool = tiny
    config = InfluenceConfig(target=target, dtype="float64", fisher_subset=5, max_tokens=90)
    fisher = fit_fisher(model, pool, config, progress=False)
    table = score(model, fisher, pool, config, tmp_path, progress=False)

    subset = fisher_subset_indices(len(pool), config.fisher_subset, config.seed)
    expected_fisher, expected_influence = brute_force_self_influence(
        model, pool, config, subset=subset
    )
    names = resolve_targets(model, target)
    family = family_of(model)
    if target == "lm_head.dense.weight":
        assert names == [family.default_target]
    engine_fisher = torch.cat([fisher.values[n].reshape(-1) for n in names])
    fisher_error = (engine_fisher - expected_fisher).abs().max() / expected_fisher.abs().max()
    assert fisher_error <= 1e-6, (kind, float(fisher_error))
    assert relative_error(table.scores, expected_influence.numpy()) <= 1e-6, kind


def test_mlm_scores_equal_the_brute_force_in_every_family(tmp_path, float64_softmax, tiny):
    kind, model, alphabet, pool = tiny
    config = InfluenceConfig(dtype="float64", fisher_subset=5, loss="mlm", mlm_draws=2)
    fisher = fit_fisher(model, pool, config, progress=False)
    table = score(model, fisher, pool, config, tmp_path, progress=False)
    subset = fisher_subset_indices(len(pool), config.fisher_subset, config.seed)
    _, expected = brute_force_self_influence(model, pool, config, subset=subset)
    assert relative_error(table.scores, expected.numpy()) <= 1e-6, kind


@pytest.mark.parametrize("target", ["lm_head.dense.weight", "last_block"])
def test_embeddings_are_the_models_own_last_hidden_state_mean_pooled(float64_softmax, tiny, target):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    config = InfluenceConfig(target=target, dtype="float64")
    plan = plan_scoring(model, pool, config)
    batch = make_loss_batch(alphabet, pool.sequences, pool.ids, config, plan.max_length)
    result = per_sample_gradients(model, batch, plan.targets, family=family)
    with torch.no_grad():
        own = family.own_hidden_states(batch.tokens)  # (B, T, D)
    expected = mean_pool(own, family.residue_mask(batch.tokens))  # (B, D)
    assert torch.allclose(result.embeddings, expected, rtol=0, atol=1e-10), kind


def test_the_stored_embeddings_are_the_pooled_hidden_states(tmp_path, tiny):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    config = InfluenceConfig(dtype="float64", fisher_subset=5)
    table = score(model, fit_fisher(model, pool, config, progress=False), pool, config,
                  tmp_path, progress=False)  # fmt: skip
    tokens = family.encode(pool.sequences)
    with torch.no_grad():
        expected = mean_pool(family.own_hidden_states(tokens), family.residue_mask(tokens))
    stored = torch.as_tensor(table.embeddings.astype(np.float64))
    assert torch.allclose(stored, expected, rtol=2e-3, atol=2e-3), kind  # float16 on disk


def test_scores_do_not_depend_on_the_batch_size(tmp_path, tiny):
    kind, model, alphabet, pool = tiny
    scores = {}
    for budget in (40, 4000):
        config = InfluenceConfig(
            target=["lm_head.dense.weight", "last_block"], dtype="float64", fisher_subset=5,
            max_tokens=budget,
        )  # fmt: skip
        fisher = fit_fisher(model, pool, config, progress=False)
        scores[budget] = score(
            model, fisher, pool, config, tmp_path / str(budget), progress=False
        ).scores
    assert relative_error(scores[40], scores[4000]) <= 1e-9, kind


def test_the_manifest_records_the_family(tmp_path, tiny):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    config = InfluenceConfig(fisher_subset=3, device="cpu")
    table = score_run(
        pool, (model, alphabet), tmp_path, config,
        finetune_settings=FinetuneSettings(epochs=1), progress=False,
    )  # fmt: skip
    recorded = table.manifest["model"]
    assert recorded["family"] == family.name
    assert recorded["layers"] == 2 and recorded["embed_dim"] == 32
    assert table.manifest["targets"] == [family.default_target]
    assert table.manifest["finetune"]["steps"] >= 1
    assert np.all(np.isfinite(table.scores)) and np.all(table.scores > 0)


def test_a_protein_model_refuses_rna_input(tiny):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    other = "ACGU" if family.molecule == "protein" else PROTEIN_LETTERS
    wrong = random_pool(3, 4, 10, letters=other)
    wrong.source = "input.fasta"
    with pytest.raises(InputError) as raised:
        plan_scoring(model, wrong, InfluenceConfig())
    assert str(raised.value) == (
        f"input.fasta: the model is a {family.molecule} model but the input is "
        f"{wrong.molecule}: use a {wrong.molecule} model"
    )


def test_packing_and_compile_are_refused_outside_fair_esm(tiny):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    for flag in ("packing", "compile"):
        config = InfluenceConfig(**{flag: True})
        if family.fast_encoder:
            plan_scoring(model, pool, config)
            continue
        with pytest.raises(ConfigError, match=f"{flag} run the fair-esm fast encoder only"):
            plan_scoring(model, pool, config)


def test_a_target_named_in_another_familys_terms_lists_this_ones(tiny):
    kind, model, alphabet, pool = tiny
    family = family_of(model)
    with pytest.raises(ConfigError) as raised:
        resolve_targets(model, "layers.9.fc1.weight")
    message = str(raised.value)
    assert "unknown target 'layers.9.fc1.weight'" in message
    assert f"{family.blocks_prefix}.<i>." in message and "(i = 0..1)" in message


@pytest.mark.skipif(not HAS_TRANSFORMERS, reason="transformers is not installed")
def test_a_head_without_a_dense_layer_scores_other_targets(tmp_path, float64_softmax):
    """Funnel's head is its output projection alone: the default target is refused (the
    message names the layers that could be targets) and another target scores. Funnel
    pools positions, padding included, so it is compared one sequence per batch."""
    import transformers
    from support.models import BERT_TOKENS, hf_tokenizer, randomize

    from biocoreset_viz.models.huggingface import vocabulary_from_tokenizer

    config = transformers.FunnelConfig(
        vocab_size=len(BERT_TOKENS), d_model=32, n_head=4, d_head=8, d_inner=64,
        block_sizes=[1, 1], num_decoder_layers=1, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = randomize(transformers.FunnelForMaskedLM(config)).double().eval()
    model.alphabet = vocabulary_from_tokenizer(hf_tokenizer("hf-bert", tmp_path / "tokenizer"))
    pool = random_pool(6, 5, 20, letters=PROTEIN_LETTERS)
    with pytest.raises(InputError) as raised:
        plan_scoring(model, pool, InfluenceConfig())
    message = str(raised.value)
    assert "the LM head of FunnelForMaskedLM has no dense layer" in message
    assert "layers that could be targets: lm_head.weight" in message
    config = InfluenceConfig(target="lm_head.bias", dtype="float64", fisher_subset=4, max_tokens=1)
    fisher = fit_fisher(model, pool, config, progress=False)
    table = score(model, fisher, pool, config, tmp_path / "run", progress=False)
    subset = fisher_subset_indices(len(pool), config.fisher_subset, config.seed)
    _, expected = brute_force_self_influence(model, pool, config, subset=subset)
    assert relative_error(table.scores, expected.numpy()) <= 1e-6
