"""This package's checkpoint format, format recognition and unreadable files."""

from __future__ import annotations

import argparse
import pathlib

import esm
import pytest
import torch
from support.models import (
    PROTEINS,
    RNAS,
    logits,
    rna_fm_model,
)

from biocoreset_viz.errors import InputError
from biocoreset_viz.models import (
    CHECKPOINT_FORMAT,
    alphabet_molecule,
    build_esm2,
    checkpoint_kind,
    checkpoint_metadata,
    load_model,
    protein_alphabet,
    rna_alphabet,
    save_model,
)

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
