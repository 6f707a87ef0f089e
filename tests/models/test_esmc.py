"""ESM C: equal to EvolutionaryScale's reference implementation; loading its weight files.

The fixture ``fixtures/esmc_reference.pt`` was made by
``data/scripts/make_esmc_reference.py`` with the reference ``esm`` package 3.2.1.post1
(EvolutionaryScale) in a separate environment: a random-weight ESMC (width 64,
4 heads, 2 layers), the reference tokenizer's tokens, logits and embeddings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.models import randomize

from biocoreset_viz.errors import ModelNotFoundError
from biocoreset_viz.models import (
    ESMC,
    checkpoint_kind,
    esmc_vocabulary,
    family_of,
    load_model,
    model_catalogue,
    save_model,
)

FIXTURE = Path(__file__).parent / "fixtures" / "esmc_reference.pt"
REPO = "models--EvolutionaryScale--esmc-300m-2024-12"
WEIGHTS = "data/weights/esmc_300m_2024_12_v0.pth"


@pytest.fixture(scope="module")
def reference() -> dict:
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def family(reference):
    model = ESMC(**reference["size"]).eval()
    model.load_state_dict(reference["state_dict"])
    model.alphabet = esmc_vocabulary()
    return family_of(model)


def test_the_fixture_is_small_and_from_the_reference():
    fixture = torch.load(FIXTURE, weights_only=True)
    assert FIXTURE.stat().st_size < 1_000_000
    assert fixture["versions"]["esm"] == "3.2.1.post1"
    assert fixture["size"] == {"d_model": 64, "n_heads": 4, "n_layers": 2}


def test_tokenization_equals_the_reference_tokenizer(family, reference):
    assert torch.equal(family.encode(reference["sequences"]), reference["tokens"])


def test_logits_and_hidden_states_equal_the_reference(family, reference):
    tokens = reference["tokens"]
    with torch.no_grad():
        logits = family.logits(tokens)
        hidden = family.hidden_states(tokens)
        own = family.own_logits(tokens)
    assert (logits - reference["logits"]).abs().max() <= 1e-5
    assert (hidden - reference["embeddings"]).abs().max() <= 1e-5
    assert (own - reference["logits"]).abs().max() <= 1e-5


def released_layout_model(seed: int = 0) -> ESMC:
    """A random ESM C with the released head width (64), so the heads follow from the width."""
    return randomize(ESMC(128, 2, 2), seed).eval()


def test_a_raw_state_dict_file_is_recognised_by_content(tmp_path):
    original = released_layout_model()
    path = tmp_path / "weights.pth"
    torch.save(original.state_dict(), path)
    assert checkpoint_kind(torch.load(path, weights_only=True)) == "esmc"
    model, vocabulary = load_model(path)
    assert isinstance(model, ESMC) and model.n_heads == 2
    tokens = family_of(model).encode(["MKTAYIAKQR", "MLS"])
    with torch.no_grad():
        assert torch.equal(model(tokens)["logits"], original(tokens)["logits"])
    assert vocabulary.all_toks == esmc_vocabulary().all_toks


def test_esmc_300m_loads_from_the_hugging_face_cache(hf_cache):
    snapshot = hf_cache / REPO / "snapshots" / "abc"
    (snapshot / WEIGHTS).parent.mkdir(parents=True)
    torch.save(released_layout_model().state_dict(), snapshot / WEIGHTS)
    assert model_catalogue()["esmc_300m"].weights_present()
    model, _ = load_model("esmc_300m")
    assert isinstance(model, ESMC)
    model, _ = load_model(snapshot)  # the downloaded repository folder itself
    assert isinstance(model, ESMC)


def test_absent_esmc_weights_say_where_they_must_be(hf_cache):
    with pytest.raises(ModelNotFoundError) as raised:
        load_model("esmc_600m")
    message = str(raised.value)
    assert "data/weights/esmc_600m_2024_12_v0.pth" in message
    assert "EvolutionaryScale/esmc-600m-2024-12" in message
    assert str(hf_cache / "models--EvolutionaryScale--esmc-600m-2024-12") in message


def test_own_format_round_trips_an_esmc(tmp_path):
    original = released_layout_model(seed=3)
    path = save_model(original, esmc_vocabulary(), tmp_path / "esmc.pt")
    model, vocabulary = load_model(path)
    tokens = family_of(model).encode(["MKVLAAG"])
    with torch.no_grad():
        assert torch.equal(model(tokens)["logits"], original(tokens)["logits"])
    assert vocabulary.mask_idx == 32 and vocabulary.padding_idx == 1
