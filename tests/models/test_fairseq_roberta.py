"""fairseq RoBERTa and the vendored Sapiens models: upstream's numbers, real antibodies.

The Sapiens models are the trained checkpoints of sapiens 1.0.5 (PyPI, MIT),
vendored by ``data/scripts/vendor_sapiens.py``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from support.models import ROBERTA_TOKENS, randomize

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import InputError
from biocoreset_viz.models import (
    FairseqRoberta,
    checkpoint_kind,
    checkpoint_metadata,
    family_of,
    load_model,
    save_model,
)
from biocoreset_viz.models.fairseq_roberta import fairseq_dictionary

# The "Suggesting mutations" example of the Sapiens README (sapiens 1.0.5, in the
# wheel's METADATA): sapiens.predict_scores(SEQUENCE, "H").head(), columns A C D E,
# printed to 6 decimals. "*" marks a masked position.
README_SEQUENCE = (
    "**QLV*SGVEVKKPGASVKVSCKASGYTFTNYYMYWVRQAPGQGLEWMGGINPSNGGTNFNEKFKNRVTLTTDSSTTTAYMELKSL"
    "QFDDTAVYYCARRDYRFDMGFDYWGQGTTVTVSS"
)
README_TABLE = np.array(
    [
        [0.003272, 0.004147, 0.004011, 0.004590],
        [0.012038, 0.003854, 0.006803, 0.008174],
        [0.003384, 0.003895, 0.003726, 0.004068],
        [0.004612, 0.005325, 0.004443, 0.004641],
        [0.005519, 0.003664, 0.003555, 0.005269],
    ]
)


@pytest.fixture(scope="module")
def vh():
    model, _ = load_model("sapiens-vh")
    return family_of(model)


def masked_tokens(family, sequence: str) -> torch.Tensor:
    """Sapiens' own input: ``*`` (and ``X``) positions become ``<mask>``."""
    tokens = family.encode([sequence.replace("*", "A")])
    hidden = torch.tensor([letter in "*X" for letter in sequence])
    tokens[0, 1:-1][hidden] = family.mask_idx
    return tokens


def test_the_sapiens_readme_probabilities_are_reproduced(vh):
    with torch.no_grad():
        probabilities = vh.logits(masked_tokens(vh, README_SEQUENCE)).softmax(-1)[0, 1:-1]
    columns = [vh.alphabet.get_idx(letter) for letter in "ACDE"]
    table = probabilities[:5][:, columns].double().numpy()
    # 6 printed decimals round by up to 5e-7
    assert np.abs(table - README_TABLE).max() <= 1e-6


def masked_accuracy(family, sequences: list[str], seed: int = 0) -> float:
    """Share of 15% masked residues (all replaced by <mask>, at least one) predicted exactly."""
    generator = torch.Generator().manual_seed(seed)
    tokens = family.encode(sequences)  # (B, T)
    residue = family.residue_mask(tokens)
    chosen = residue & (torch.rand(tokens.shape, generator=generator) < 0.15)
    first = residue.float().argmax(1)  # (B,) each row's first residue, when chance chose none
    chosen[torch.arange(len(tokens)), first] |= ~chosen.any(1)
    masked = tokens.masked_fill(chosen, family.mask_idx)
    residues = family.residue_token_ids()
    with torch.no_grad():
        logits = family.logits(masked)[chosen][:, residues]  # (M, R)
    predicted = residues[logits.argmax(-1)]
    return float((predicted == tokens[chosen]).float().mean())


def unigram_accuracy(sequences: list[str]) -> float:
    """Accuracy of always predicting the most common residue."""
    letters = "".join(sequences)
    return max(letters.count(letter) for letter in set(letters)) / len(letters)


def test_sapiens_predicts_human_heavy_chain_germlines_far_above_unigram(vh, one_torch_thread):
    antibodies = load_demo("antibody")
    labels = antibodies.labels
    human_heavy = np.flatnonzero((labels["chain"] == "heavy") & (labels["species"] == "human"))
    sequences = [antibodies.sequences[i] for i in human_heavy]
    accuracy = masked_accuracy(vh, sequences)
    baseline = unigram_accuracy(sequences)
    assert baseline < 0.15
    assert accuracy > 0.75 and accuracy > 5 * baseline


def test_the_light_chain_model_knows_light_chains_not_heavy_ones(one_torch_thread):
    model, _ = load_model("sapiens-vl")
    vl = family_of(model)
    antibodies = load_demo("antibody")
    labels = antibodies.labels
    human = labels["species"] == "human"
    light = [antibodies.sequences[i] for i in np.flatnonzero(human & (labels["chain"] != "heavy"))]
    heavy = [antibodies.sequences[i] for i in np.flatnonzero(human & (labels["chain"] == "heavy"))]
    assert masked_accuracy(vl, light[::2]) > 0.6
    assert masked_accuracy(vl, heavy[::4]) < 0.2


def test_the_vendored_models_carry_their_provenance():
    metadata = checkpoint_metadata("sapiens-vh")
    assert metadata["source"] == "sapiens 1.0.5 (PyPI, MIT), sapiens/models/v1/checkpoint_vh.pt"
    assert len(metadata["source_sha256"]) == 64
    assert metadata["training_args"]["max_positions"] == 144
    assert checkpoint_metadata("sapiens-vl")["chain"] == "light"


def fairseq_checkpoint(model: FairseqRoberta) -> dict:
    """The layout of a fairseq 0.10 RoBERTa checkpoint (``decoder.`` prefixes, args)."""
    state = {}
    for key, value in model.state_dict().items():
        prefix = "decoder." if key.startswith("lm_head") else "decoder.sentence_encoder."
        state[prefix + key] = value.clone()
    args = argparse.Namespace(
        arch="roberta_small",
        encoder_layers=len(model.layers),
        encoder_embed_dim=model.embed_tokens.embedding_dim,
        encoder_ffn_embed_dim=model.layers[0].fc1.out_features,
        encoder_attention_heads=model.attention_heads,
        max_positions=model.max_positions,
        activation_fn="gelu",
    )
    return {"args": args, "model": state, "optimizer_history": []}


def tiny_roberta(seed: int = 0) -> FairseqRoberta:
    return randomize(FairseqRoberta(len(ROBERTA_TOKENS), 2, 32, 64, 4, 40), seed).eval()


def write_dictionary(folder) -> None:
    symbols = ROBERTA_TOKENS[4:-1]
    (folder / "dict.txt").write_text("".join(f"{symbol} 1\n" for symbol in symbols))


def test_a_fairseq_checkpoint_with_its_dictionary_loads_with_identical_logits(tmp_path):
    original = tiny_roberta()
    path = tmp_path / "checkpoint_best.pt"
    torch.save(fairseq_checkpoint(original), path)
    write_dictionary(tmp_path)
    assert checkpoint_kind(torch.load(path, weights_only=False)) == "fairseq-roberta"
    model, vocabulary = load_model(path)
    assert vocabulary.all_toks == ROBERTA_TOKENS
    assert model.lm_head.weight is model.embed_tokens.weight  # tied
    tokens = family_of(model).encode(["MKTAYIAKQR", "MLS"])
    with torch.no_grad():
        assert torch.equal(model(tokens)["logits"], original(tokens)["logits"])


def test_a_fairseq_checkpoint_without_its_dictionary_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    torch.save(fairseq_checkpoint(tiny_roberta()), path)
    with pytest.raises(InputError, match=r"needs its dictionary at .*dict\.txt"):
        load_model(path)


def test_an_untied_projection_is_refused(tmp_path):
    checkpoint = fairseq_checkpoint(tiny_roberta())
    checkpoint["model"]["decoder.lm_head.weight"] = torch.zeros_like(
        checkpoint["model"]["decoder.lm_head.weight"]
    )
    path = tmp_path / "checkpoint.pt"
    torch.save(checkpoint, path)
    write_dictionary(tmp_path)
    with pytest.raises(InputError, match="not tied to the embedding"):
        load_model(path)


def test_own_format_round_trips_a_fairseq_roberta(tmp_path):
    write_dictionary(tmp_path)
    original = tiny_roberta(seed=2)
    path = save_model(original, fairseq_dictionary(tmp_path / "dict.txt"), tmp_path / "m.pt")
    model, _ = load_model(path)
    tokens = family_of(model).encode(["MKVLAAG"])
    with torch.no_grad():
        assert torch.equal(model(tokens)["logits"], original(tokens)["logits"])
    assert model.lm_head.weight is model.embed_tokens.weight


def test_the_vendored_files_are_float32_and_small():
    from biocoreset_viz.models import model_path

    for name in ("sapiens-vh", "sapiens-vl"):
        assert model_path(name).stat().st_size < 5 * 2**20
        model, _ = load_model(name)
        assert all(p.dtype == torch.float32 for p in model.parameters())
