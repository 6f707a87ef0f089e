"""Model loading for every checkpoint format, offline errors, tokenisation and batching."""

from __future__ import annotations

import argparse
import importlib.util
import pathlib

import esm
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import InputError, ModelNotFoundError
from biocoreset_viz.models import (
    CHECKPOINT_FORMAT,
    alphabet_molecule,
    build_esm1b,
    build_esm2,
    checkpoint_kind,
    checkpoint_metadata,
    encode_batch,
    known_models,
    load_model,
    model_path,
    protein_alphabet,
    rna_alphabet,
    save_model,
    token_budget_batches,
)
from biocoreset_viz.train import mlm_loss, unigram_cross_entropy

PROTEINS = ["MKTAYIAKQR", "MLSDEQ", "MKVLAAGIVGLLLAWHHHHHH", "M"]
RNAS = ["ACGUACGGAU", "GGC", "AUGCNNAUCGAUCGAUUAGC", "U"]


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> pathlib.Path:
    """An empty torch hub folder, found the way fair-esm finds it (``TORCH_HOME``)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert pathlib.Path(torch.hub.get_dir()) / "checkpoints" == checkpoints
    return checkpoints


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


def logits(model: torch.nn.Module, alphabet: esm.data.Alphabet, sequences) -> torch.Tensor:
    with torch.no_grad():
        return model(encode_batch(alphabet, sequences))["logits"]


def fair_esm_esm2_checkpoint(model: esm.model.esm2.ESM2) -> dict:
    """The layout of fair-esm's released ESM-2 files: fairseq prefixes, a cfg Namespace."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("contact_head.regression"):
            continue  # released separately as <name>-contact-regression.pt
        prefix = "encoder." if key.startswith("lm_head") else "encoder.sentence_encoder."
        state[prefix + key] = value.clone()
    cfg = argparse.Namespace(
        encoder_layers=model.num_layers,
        encoder_embed_dim=model.embed_dim,
        encoder_attention_heads=model.attention_heads,
        token_dropout=model.token_dropout,
    )
    return {"cfg": {"model": cfg}, "model": state}


def rna_fm_model(seed: int = 0) -> esm.model.esm1.ProteinBertModel:
    model = build_esm1b(2, 32, 4, "rna", ffn_embed_dim=64, max_positions=64, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                # not the default 1/0, so a dropped key shows
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
        # the loader zeroes <mask>'s embedding as fair-esm does; match it here
        model.embed_tokens.weight[model.mask_idx].zero_()
    return model


def rna_fm_checkpoint(model: esm.model.esm1.ProteinBertModel) -> dict:
    """RNA-FM's layout: fairseq arg and key prefixes (``encoder_*``, ``encoder.*``)."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("contact_head.regression"):
            continue
        prefix = "encoder." if key.startswith("lm_head") else "encoder.sentence_encoder."
        state[prefix + key] = value.clone()
    args = argparse.Namespace(
        arch="roberta_large",
        encoder_layers=model.args.layers,
        encoder_embed_dim=model.args.embed_dim,
        encoder_ffn_embed_dim=model.args.ffn_embed_dim,
        encoder_attention_heads=model.args.attention_heads,
        max_positions=model.args.max_positions,
    )
    return {"args": args, "model": state}


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
# This package's format


@pytest.mark.parametrize("molecule", ["rna", "protein"])
def test_own_format_round_trips_exactly(tmp_path, molecule):
    original = build_esm2(2, 32, 4, molecule, seed=7)
    path = save_model(original, original.alphabet, tmp_path / "m.pt", metadata={"note": "x"})
    model, alphabet = load_model(str(path))
    assert alphabet.all_toks == original.alphabet.all_toks
    assert alphabet_molecule(alphabet) == molecule
    sequences = RNAS if molecule == "rna" else PROTEINS
    assert torch.equal(
        logits(model, alphabet, sequences), logits(original, original.alphabet, sequences)
    )
    assert checkpoint_metadata(path) == {"note": "x"}


def test_own_format_in_half_precision_is_close_and_smaller(tmp_path):
    original = build_esm2(2, 64, 4, "protein", seed=8)
    full = save_model(original, original.alphabet, tmp_path / "full.pt")
    half = save_model(original, original.alphabet, tmp_path / "half.pt", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, alphabet = load_model(half)
    assert next(model.parameters()).dtype == torch.float32
    expected = logits(original, alphabet, PROTEINS)
    assert torch.allclose(logits(model, alphabet, PROTEINS), expected, atol=1e-2)


def test_own_format_also_holds_esm1b_style_models(tmp_path):
    original = rna_fm_model(seed=9)
    path = save_model(original, rna_alphabet(), tmp_path / "esm1b.pt")
    model, alphabet = load_model(path)
    assert isinstance(model, esm.model.esm1.ProteinBertModel)
    assert torch.equal(logits(model, alphabet, RNAS), logits(original, alphabet, RNAS))


def test_save_model_rejects_a_mismatched_alphabet(tmp_path):
    model = build_esm2(1, 16, 2, "rna")
    with pytest.raises(ValueError, match="the alphabet has 33 tokens but the model embeds 25"):
        save_model(model, protein_alphabet(), tmp_path / "m.pt")


def test_metadata_is_stored_as_plain_values(tmp_path):
    model = build_esm2(1, 16, 2, "rna")
    path = save_model(model, model.alphabet, tmp_path / "m.pt", metadata={"v": torch.__version__})
    assert type(checkpoint_metadata(path)["v"]) is str


def test_checkpoint_kind_reads_content():
    assert checkpoint_kind({"format": CHECKPOINT_FORMAT, "model": {}}) == CHECKPOINT_FORMAT
    assert checkpoint_kind({"cfg": {"model": argparse.Namespace()}, "model": {}}) == "esm2"
    protein_embedding = {"encoder.sentence_encoder.embed_tokens.weight": torch.zeros(33, 4)}
    args = argparse.Namespace(arch="roberta_large")
    assert checkpoint_kind({"args": args, "model": protein_embedding}) == "esm1"
    rna_embedding = {"encoder.sentence_encoder.embed_tokens.weight": torch.zeros(25, 4)}
    assert checkpoint_kind({"args": args, "model": rna_embedding}) == "rna-fm"
    assert checkpoint_kind({"weights": {}}) is None
    assert checkpoint_kind([1, 2]) is None


# ---------------------------------------------------------------------------
# Errors


def test_unknown_name_lists_the_known_names():
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("esm3_large")
    message = str(raised.value)
    assert message.startswith("unknown model 'esm3_large'; known names: demo-rna, demo-protein")
    assert all(name in message for name in known_models())


def test_missing_path_is_reported():
    with pytest.raises(ModelNotFoundError, match=r"no model checkpoint at /nowhere/model\.pt"):
        load_model("/nowhere/model.pt")


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not weights\n")
    with pytest.raises(InputError, match=r"notes\.pt: not a (readable )?PyTorch checkpoint"):
        load_model(path)


def test_a_checkpoint_with_code_objects_needs_trust(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"model": {}, "where": pathlib.PurePosixPath("/x")}, path)
    with pytest.raises(InputError, match="load it with trusted=True only if you trust"):
        load_model(path)


def test_an_unknown_dictionary_is_not_a_model(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(InputError, match="not a model checkpoint this package reads"):
        load_model(path)


def test_weights_that_do_not_fit_are_reported(tmp_path):
    model = build_esm2(1, 16, 2, "rna")
    path = save_model(model, model.alphabet, tmp_path / "m.pt")
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["model"]["layers.0.fc1.weight"]
    torch.save(checkpoint, path)
    with pytest.raises(InputError, match=r"do not fit .* missing layers\.0\.fc1\.weight"):
        load_model(path)


def test_missing_demo_model_file_says_how_to_restore_it(monkeypatch):
    import biocoreset_viz.models as models

    monkeypatch.setitem(models.DEMO_MODELS, "demo-rna", "absent_model.pt")
    with pytest.raises(ModelNotFoundError, match="train_demo_models.py"):
        model_path("demo-rna")


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


# ---------------------------------------------------------------------------
# Tokenisation and token-budget batching

rna_sequences = st.lists(
    st.text(alphabet="ACGUN", min_size=1, max_size=40), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(sequences=rna_sequences, max_length=st.one_of(st.none(), st.integers(1, 50)))
def test_encode_batch_adds_bos_eos_and_padding(sequences, max_length):
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, sequences, max_length=max_length)
    kept = [len(s) if max_length is None else min(len(s), max_length) for s in sequences]
    assert tokens.shape == (len(sequences), max(kept) + 2)
    assert tokens.dtype == torch.int64
    for row, sequence, length in zip(tokens.tolist(), sequences, kept, strict=True):
        assert row[0] == alphabet.cls_idx
        assert [alphabet.get_tok(t) for t in row[1 : length + 1]] == list(sequence[:length])
        assert row[length + 1] == alphabet.eos_idx
        assert all(t == alphabet.padding_idx for t in row[length + 2 :])


def test_encode_batch_maps_unknown_letters_to_unk():
    alphabet = protein_alphabet()
    tokens = encode_batch(alphabet, ["A@C"])
    assert tokens[0, 2].item() == alphabet.unk_idx


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), min_size=0, max_size=60),
    max_tokens=st.integers(1, 1200),
    max_batch_size=st.one_of(st.none(), st.integers(1, 10)),
)
def test_token_budget_batches_cover_every_index_once_within_budget(
    lengths, max_tokens, max_batch_size
):
    batches = token_budget_batches(lengths, max_tokens, max_batch_size=max_batch_size)
    flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * (max(lengths[i] for i in batch) + 2)
        assert padded <= max_tokens or len(batch) == 1
        if max_batch_size is not None:
            assert len(batch) <= max_batch_size
    # shortest first: lengths never decrease along the concatenated order
    assert all(lengths[a] <= lengths[b] for a, b in zip(flat, flat[1:], strict=False))


def test_token_budget_batches_rejects_a_zero_budget():
    with pytest.raises(ValueError, match="max_tokens must be >= 1, got 0"):
        token_budget_batches([3, 4], 0)
