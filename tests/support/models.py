"""Model-building helpers shared by the model tests: fair-esm checkpoint layouts, logits."""

from __future__ import annotations

import argparse
import importlib.util

import esm
import pytest
import torch

from biocoreset_viz.models import build_esm1b, build_esm2, encode_batch, rna_alphabet

PROTEINS = ["MKTAYIAKQR", "MLSDEQ", "MKVLAAGIVGLLLAWHHHHHH", "M"]
RNAS = ["ACGUACGGAU", "GGC", "AUGCNNAUCGAUCGAUUAGC", "U"]


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
# Tiny random models of every family

FAMILY_KINDS = ("esm2", "esm1b", "fairseq-roberta", "esmc", "hf-esm", "hf-bert", "hf-roberta")
HF_KINDS = ("hf-esm", "hf-bert", "hf-roberta")
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
# FAMILY_KINDS as test parameters: the Hugging Face kinds skip without transformers
FAMILY_PARAMS = [
    pytest.param(
        kind,
        marks=pytest.mark.skipif(
            kind in HF_KINDS and not HAS_TRANSFORMERS, reason="transformers is not installed"
        ),
    )
    for kind in FAMILY_KINDS
]
BERT_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"ACDEFGHIKLMNPQRSTVWY"]
ROBERTA_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", *"ACDEFGHIKLMNPQRSTVWY", "<mask>"]


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn anew (layer-norm scales near 1), so a misplaced one shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            if parameter.ndim == 1 and name.endswith("weight"):
                parameter.copy_(1.0 + 0.2 * noise)
            elif parameter.ndim == 1:
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_(noise / parameter.shape[-1] ** 0.5)
    return model


def hf_tokenizer(kind: str, folder):
    """A per-residue tokenizer of a Hugging Face model kind, written into ``folder``."""
    import json

    from transformers import BertTokenizer, EsmTokenizer, RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    if kind == "hf-esm":
        path = folder / "vocab.txt"
        path.write_text("\n".join(esm.data.Alphabet.from_architecture("ESM-1b").all_toks) + "\n")
        return EsmTokenizer(vocab_file=str(path))
    if kind == "hf-bert":
        path = folder / "vocab.txt"
        path.write_text("\n".join(BERT_TOKENS) + "\n")
        # transformers 5 ignores vocab_file=: the vocabulary must be passed as vocab=
        return BertTokenizer(vocab=str(path), do_lower_case=False)
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    vocab.write_text(json.dumps({token: index for index, token in enumerate(ROBERTA_TOKENS)}))
    merges.write_text("#version: 0.2\n")
    return RobertaTokenizer(vocab=str(vocab), merges=str(merges))


def hf_model(kind: str, tokenizer, seed: int = 0):
    """A tiny random Hugging Face masked LM (2 layers, width 32) for a tokenizer."""
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        EsmConfig,
        EsmForMaskedLM,
        RobertaConfig,
        RobertaForMaskedLM,
    )

    sizes = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "pad_token_id": tokenizer.pad_token_id,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    torch.manual_seed(seed)
    if kind == "hf-esm":
        config = EsmConfig(
            **sizes,
            mask_token_id=tokenizer.mask_token_id,
            position_embedding_type="rotary",
            max_position_embeddings=1026,
            token_dropout=True,
            emb_layer_norm_before=False,
        )
        model = EsmForMaskedLM(config)
    elif kind == "hf-bert":
        model = BertForMaskedLM(BertConfig(**sizes, max_position_embeddings=128))
    else:
        config = RobertaConfig(**sizes, max_position_embeddings=130)
        model = RobertaForMaskedLM(config)
    return randomize(model, seed).eval()


def tiny_family_model(kind: str, folder, seed: int = 0):
    """``(model, alphabet)``: a tiny random float32 model of one family kind."""
    from biocoreset_viz.models import ESMC, FairseqRoberta, esmc_vocabulary
    from biocoreset_viz.models.huggingface import vocabulary_from_tokenizer
    from biocoreset_viz.models.vocabulary import Vocabulary

    if kind == "esm2":
        model = randomize(build_esm2(2, 32, 4, "protein", seed=seed), seed)
        return model, model.alphabet
    if kind == "esm1b":
        model = build_esm1b(2, 32, 4, "rna", ffn_embed_dim=64, max_positions=64, seed=seed)
        return randomize(model, seed), rna_alphabet()
    if kind == "fairseq-roberta":
        vocabulary = Vocabulary(
            ROBERTA_TOKENS, cls="<s>", padding="<pad>", eos="</s>", unk="<unk>", mask="<mask>"
        )
        model = FairseqRoberta(len(vocabulary), 2, 32, 64, 4, max_positions=64)
        return randomize(model, seed).eval(), vocabulary
    if kind == "esmc":
        return randomize(ESMC(32, 4, 2), seed).eval(), esmc_vocabulary()
    tokenizer = hf_tokenizer(kind, folder)
    return hf_model(kind, tokenizer, seed), vocabulary_from_tokenizer(tokenizer)
