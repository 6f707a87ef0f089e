"""The fair-esm family: ESM-2 and RNA-FM checkpoints, the bundled demo models, random models."""

from __future__ import annotations

import importlib.util

import esm
import numpy as np
import pytest
import torch
from support.models import (
    PROTEINS,
    RNAS,
    fair_esm_esm2_checkpoint,
    logits,
    rna_fm_checkpoint,
    rna_fm_model,
)

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import ModelNotFoundError
from biocoreset_viz.models import (
    alphabet_molecule,
    build_esm1b,
    build_esm2,
    checkpoint_metadata,
    load_model,
    model_path,
    rna_alphabet,
)
from biocoreset_viz.train import mlm_loss, unigram_cross_entropy

# ---------------------------------------------------------------------------
# ESM-2 (fair-esm format)


def test_esm2_name_loads_from_the_hub_cache_with_identical_logits(hub_dir):
    original = build_esm2(2, 32, 4, "protein", seed=1)
    torch.save(fair_esm_esm2_checkpoint(original), hub_dir / "esm2_t6_8M_UR50D.pt")
    model, alphabet = load_model("esm2_t6_8M_UR50D")
    assert isinstance(model, esm.model.esm2.ESM2)
    assert alphabet_molecule(alphabet) == "protein"
    assert not model.training
    assert torch.equal(logits(model, alphabet, PROTEINS), logits(original, alphabet, PROTEINS))


def test_esm2_contact_regression_beside_the_weights_is_loaded(hub_dir):
    original = build_esm2(2, 32, 4, "protein", seed=2)
    torch.save(fair_esm_esm2_checkpoint(original), hub_dir / "esm2_t6_8M_UR50D.pt")
    regression = {key: value for key, value in original.state_dict().items() if "regression" in key}
    torch.save({"model": regression}, hub_dir / "esm2_t6_8M_UR50D-contact-regression.pt")
    model, _ = load_model("esm2_t6_8M_UR50D")
    assert torch.equal(
        model.contact_head.regression.weight, original.contact_head.regression.weight
    )


def test_esm2_file_with_any_name_is_recognised_by_content(tmp_path):
    original = build_esm2(1, 16, 2, "protein", seed=3)
    path = tmp_path / "weights.bin"
    torch.save(fair_esm_esm2_checkpoint(original), path)
    model, alphabet = load_model(path)
    assert isinstance(model, esm.model.esm2.ESM2)
    assert torch.equal(logits(model, alphabet, PROTEINS), logits(original, alphabet, PROTEINS))


def test_missing_esm2_weights_say_where_to_put_them(hub_dir):
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("esm2_t33_650M_UR50D")
    message = str(raised.value)
    assert f"put esm2_t33_650M_UR50D.pt at {hub_dir / 'esm2_t33_650M_UR50D.pt'}" in message
    assert "https://dl.fbaipublicfiles.com/fair-esm/models/esm2_t33_650M_UR50D.pt" in message
    assert "nothing is downloaded" in message
    assert "\n" not in message


# ---------------------------------------------------------------------------
# RNA-FM (fairseq ESM-1b format, RNA alphabet)


def test_rna_fm_name_loads_from_the_hub_cache_with_identical_logits(hub_dir):
    original = rna_fm_model()
    torch.save(rna_fm_checkpoint(original), hub_dir / "RNA-FM_pretrained.pth")
    model, alphabet = load_model("rna_fm_t12")
    assert isinstance(model, esm.model.esm1.ProteinBertModel)
    assert alphabet.all_toks == rna_alphabet().all_toks
    assert alphabet_molecule(alphabet) == "rna"
    assert model.emb_layer_norm_before is not None
    assert model.alphabet is alphabet
    assert torch.equal(logits(model, alphabet, RNAS), logits(original, alphabet, RNAS))


def test_rna_fm_loader_zeroes_the_mask_embedding(tmp_path):
    original = rna_fm_model(seed=5)
    checkpoint = rna_fm_checkpoint(original)
    embedding = checkpoint["model"]["encoder.sentence_encoder.embed_tokens.weight"]
    embedding[original.mask_idx] = 1.0
    path = tmp_path / "rna_fm.pt"
    torch.save(checkpoint, path)
    model, alphabet = load_model(path)
    assert torch.count_nonzero(model.embed_tokens.weight[alphabet.mask_idx]) == 0
    assert torch.equal(logits(model, alphabet, RNAS), logits(original, alphabet, RNAS))


def test_missing_rna_fm_weights_say_where_to_put_them(hub_dir):
    with pytest.raises(ModelNotFoundError, match=r"put RNA-FM_pretrained\.pth at .*checkpoints"):
        load_model("rna_fm_t12")


# ---------------------------------------------------------------------------
# The bundled demo models


@pytest.mark.parametrize(
    ("name", "dataset"),
    [("demo-rna", "rna"), ("demo-protein", "proteome"), ("demo-protein", "hemopexin")],
)
def test_demo_models_load_and_beat_the_unigram_baseline(name, dataset):
    if dataset == "hemopexin" and importlib.util.find_spec("pyfamsa") is None:
        pytest.skip("pyfamsa is not installed; the hemopexin demo reads its file at run time")
    model, alphabet = load_model(name)
    sequences = load_demo(dataset)
    assert alphabet_molecule(alphabet) == sequences.molecule
    assert model_path(name).stat().st_size <= 5_000_000
    metadata = checkpoint_metadata(name)
    assert dataset in metadata["datasets"]
    heldout_ids = set(metadata["heldout_ids"])
    heldout = np.array([i in heldout_ids for i in sequences.ids])
    assert 0.09 < heldout.mean() < 0.2
    group = {"rna": "cluster", "hemopexin": "protein"}.get(dataset)
    keys = sequences.labels[group] if group else np.array(sequences.sequences)
    assert not set(keys[heldout]) & set(keys[~heldout])  # no group on both sides
    max_length = metadata["recipe"]["max_length"]
    sample = sequences.subset(np.flatnonzero(heldout)[::3][:64])
    loss = mlm_loss(model, alphabet, sample, max_length=max_length)
    scored = [s[:max_length] for s in sample.sequences]
    baseline = unigram_cross_entropy(sequences.subset(np.flatnonzero(~heldout)), scored)
    assert loss < baseline - 0.02


# ---------------------------------------------------------------------------
# build_esm2 and build_esm1b


def test_build_esm2_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_esm2(2, 32, 4, "rna", seed=11)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_esm2(2, 32, 4, "rna", seed=11)
    c = build_esm2(2, 32, 4, "rna", seed=12)
    state_b = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, state_b[key]), key
    assert not torch.equal(a.layers[0].fc1.weight, c.layers[0].fc1.weight)
    assert a.num_layers == 2 and a.embed_dim == 32 and a.attention_heads == 4
    assert torch.count_nonzero(a.embed_tokens.weight[a.padding_idx]) == 0


def test_build_esm2_rejects_a_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"embed_dim \(30\) must be a multiple of attention_heads"):
        build_esm2(1, 30, 4)


def test_build_esm1b_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_esm1b(2, 32, 4, "rna", max_positions=64, seed=11)
    assert torch.equal(torch.rand(1), expected_next)
    b = build_esm1b(2, 32, 4, "rna", max_positions=64, seed=11)
    c = build_esm1b(2, 32, 4, "rna", max_positions=64, seed=12)
    state_b = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, state_b[key]), key
    assert not torch.equal(a.layers[0].fc1.weight, c.layers[0].fc1.weight)
    assert isinstance(a, esm.model.esm1.ProteinBertModel) and not a.training
    assert a.args.layers == 2 and a.args.embed_dim == 32 and a.args.ffn_embed_dim == 128
    assert a.embed_positions.max_positions == 64
    assert a.alphabet_size == len(rna_alphabet()) and a.model_version == "ESM-1b"


def test_build_esm1b_rejects_a_width_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"embed_dim \(30\) must be a multiple of attention_heads"):
        build_esm1b(1, 30, 4)
