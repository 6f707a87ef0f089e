"""Hugging Face masked LMs: save_pretrained folders, the hub cache, tokenizers, missing pieces."""

from __future__ import annotations

import shutil
import sys

import pytest
import torch
from support.models import BERT_TOKENS, HF_KINDS, hf_model, hf_tokenizer

from biocoreset_viz.errors import InputError, MissingDependencyError
from biocoreset_viz.models import family_of, load_model
from biocoreset_viz.models.huggingface import vocabulary_from_tokenizer

transformers = pytest.importorskip("transformers")

HEAVY_CHAIN = "QVQLVQSGAEVKKPGASVKVSCKASGYTFTSYGISWVRQAPGQGLEWMGWISAYNGNTNYAQKLQG"
DEFAULT_TARGETS = {
    "hf-esm": ("EsmForMaskedLM", "lm_head.dense.weight"),
    "hf-bert": ("BertForMaskedLM", "cls.predictions.transform.dense.weight"),
    "hf-roberta": ("RobertaForMaskedLM", "lm_head.dense.weight"),
}


def saved_model(kind: str, folder, seed: int = 0):
    """A tiny random model and its tokenizer, written with save_pretrained into ``folder``."""
    tokenizer = hf_tokenizer(kind, folder / "tokenizer-files")
    model = hf_model(kind, tokenizer, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def tokenizer_ids(tokenizer, sequence: str) -> list[int]:
    direct = tokenizer(sequence)["input_ids"]
    spaced = tokenizer(" ".join(sequence))["input_ids"]
    return direct if len(direct) == len(sequence) + 2 else spaced


@pytest.mark.parametrize("kind", HF_KINDS)
def test_a_save_pretrained_folder_reloads_with_identical_logits(kind, tmp_path):
    original, _ = saved_model(kind, tmp_path)
    model, vocabulary = load_model(tmp_path)
    class_name, target = DEFAULT_TARGETS[kind]
    assert type(model).__name__ == class_name and not model.training
    family = family_of(model)
    assert family.name == "huggingface" and family.default_target == target
    tokens = family.encode([HEAVY_CHAIN, "MKV"])
    with torch.no_grad():
        expected = original(input_ids=tokens, attention_mask=tokens.ne(family.padding_idx)).logits
        assert torch.equal(family.own_logits(tokens), expected)
        real = tokens.ne(family.padding_idx)
        assert torch.allclose(family.logits(tokens)[real], expected[real], atol=1e-5)
    assert model.alphabet is vocabulary


@pytest.mark.parametrize("kind", HF_KINDS)
def test_tokenization_maps_real_residues_to_the_tokenizers_own_ids(kind, tmp_path):
    _, tokenizer = saved_model(kind, tmp_path)
    _, vocabulary = load_model(tmp_path)
    family_tokens = family_of(load_model(tmp_path)[0]).encode([HEAVY_CHAIN])[0].tolist()
    assert family_tokens == tokenizer_ids(tokenizer, HEAVY_CHAIN)
    residues = [vocabulary.get_tok(t) for t in family_tokens[1:-1]]
    assert residues == list(HEAVY_CHAIN)  # real residues, not the unknown token
    assert vocabulary.unk_idx not in family_tokens


def test_bert_tokenizer_given_vocab_file_is_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(BERT_TOKENS) + "\n")
    # transformers 5 ignores vocab_file=: the tokenizer knows only its special tokens
    tokenizer = transformers.BertTokenizer(vocab_file=str(path))
    with pytest.raises(InputError, match="no single-letter residue tokens"):
        vocabulary_from_tokenizer(tokenizer)


def test_a_lowercasing_tokenizer_is_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(BERT_TOKENS) + "\n")
    tokenizer = transformers.BertTokenizer(vocab=str(path))  # lowercases: every residue unknown
    with pytest.raises(InputError, match="the tokenizer does not give one token per residue"):
        vocabulary_from_tokenizer(tokenizer)


def test_a_hub_name_in_the_cache_loads_offline(tmp_path, hf_cache):
    snapshot = hf_cache / "models--someone--tiny-esm" / "snapshots" / "0123abcd"
    original, _ = saved_model("hf-esm", snapshot)
    (hf_cache / "models--someone--tiny-esm" / "refs").mkdir()
    (hf_cache / "models--someone--tiny-esm" / "refs" / "main").write_text("0123abcd")
    model, _ = load_model("someone/tiny-esm")
    state = original.state_dict()
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_without_transformers_the_install_command_is_given(tmp_path, monkeypatch):
    saved_model("hf-bert", tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r'pip install "biocoreset_viz\[hf\]"'):
        load_model(tmp_path)


def test_a_folder_with_a_config_but_no_weights_is_refused(tmp_path):
    _, tokenizer = saved_model("hf-bert", tmp_path / "full")
    folder = tmp_path / "config-only"
    folder.mkdir()
    shutil.copy(tmp_path / "full" / "config.json", folder / "config.json")
    tokenizer.save_pretrained(folder)
    with pytest.raises(InputError, match="transformers cannot load a masked LM here"):
        load_model(folder)


def test_a_head_without_a_dense_layer_names_the_layers_that_could_be_targets(tmp_path):
    config = transformers.FunnelConfig(
        vocab_size=len(BERT_TOKENS),
        d_model=32,
        n_head=4,
        d_head=8,
        d_inner=64,
        block_sizes=[1, 1],
        num_decoder_layers=1,
        pad_token_id=0,
    )
    model = transformers.FunnelForMaskedLM(config).eval()
    tokenizer = hf_tokenizer("hf-bert", tmp_path)
    family = family_of(model, vocabulary_from_tokenizer(tokenizer))
    with pytest.raises(InputError) as raised:
        family.default_target  # noqa: B018
    message = str(raised.value)
    assert "the LM head of FunnelForMaskedLM has no dense layer" in message
    assert "layers that could be targets: lm_head.weight" in message
