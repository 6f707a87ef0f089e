"""The fairseq-RoBERTa family: fairseq 0.10 RoBERTa masked LMs, such as the Sapiens antibody models.

fairseq does not install here, so the architecture is written out in plain PyTorch
(:class:`FairseqRoberta`) and checkpoints are read with ``torch.load``:

* tokens: ``embed_tokens(tokens) + embed_positions(positions)``, then
  ``emb_layer_norm``, padding rows zeroed (no embedding scale). Positions are
  fairseq's learned ones with the padding offset: ``cumsum(tok != pad) * (tok != pad)
  + pad``, so the first token gets position ``pad + 1``;
* post-LayerNorm blocks: ``x = LN(x + attn(x))``, then ``x = LN(x + fc2(gelu(fc1(x))))``;
  no final LayerNorm;
* LM head: ``dense -> gelu -> layer_norm -> x @ embed_tokens.weight^T + bias``
  (the projection is tied to the token embedding). Default target
  ``lm_head.dense.weight``.

Parameter names are fairseq's without the ``decoder.sentence_encoder.`` /
``decoder.`` prefixes (``layers.0.self_attn.q_proj.weight``, ``lm_head.dense.weight``).

Known models: ``sapiens-vh`` and ``sapiens-vl``, the human heavy- and light-chain
models of Sapiens 1.0.5 (MIT), vendored in this package (``data/README.md``).
A raw fairseq checkpoint is read from its path, with its ``dict.txt`` beside it.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biocoreset_viz.errors import InputError
from biocoreset_viz.models.checkpoints import check_vocabulary_size, load_state
from biocoreset_viz.models.fair_esm import bundled_file
from biocoreset_viz.models.family import KnownModel, ModelFamily, register_family
from biocoreset_viz.models.vocabulary import Vocabulary

FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
# name -> (bundled file, chain it was trained on)
SAPIENS_MODELS = {
    "sapiens-vh": ("sapiens_vh.pt", "heavy"),
    "sapiens-vl": ("sapiens_vl.pt", "light"),
}
SAPIENS_SCRIPT = "data/scripts/vendor_sapiens.py"


class FairseqSelfAttention(nn.Module):
    """fairseq's ``MultiheadAttention`` (self-attention, no bias_kv), without dropout."""

    def __init__(self, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor, key_is_pad: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, T, D)``; ``key_is_pad`` ``(B, T)`` keys take no attention."""
        batch, length, width = x.shape
        head_dim = width // self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, head_dim).transpose(1, 2)  # (B, H, T, Dh)

        q = split(self.q_proj(x) * head_dim**-0.5)
        k = split(self.k_proj(x))
        v = split(self.v_proj(x))
        scores = q @ k.transpose(-1, -2)  # (B, H, T, T)
        scores = scores.masked_fill(key_is_pad[:, None, None, :], float("-inf"))
        context = scores.softmax(dim=-1) @ v  # (B, H, T, Dh)
        return self.out_proj(context.transpose(1, 2).reshape(batch, length, width))


class FairseqRobertaLayer(nn.Module):
    """A post-LayerNorm transformer block (fairseq's ``TransformerSentenceEncoderLayer``)."""

    def __init__(self, embed_dim: int, ffn_embed_dim: int, heads: int) -> None:
        super().__init__()
        self.self_attn = FairseqSelfAttention(embed_dim, heads)
        self.self_attn_layer_norm = nn.LayerNorm(embed_dim)
        self.fc1 = nn.Linear(embed_dim, ffn_embed_dim)
        self.fc2 = nn.Linear(ffn_embed_dim, embed_dim)
        self.final_layer_norm = nn.LayerNorm(embed_dim)

    def forward(self, x: torch.Tensor, key_is_pad: torch.Tensor) -> torch.Tensor:
        x = self.self_attn_layer_norm(x + self.self_attn(x, key_is_pad))
        return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))


class FairseqLMHead(nn.Module):
    """RoBERTa's LM head: dense, GELU, LayerNorm, then the tied output projection plus bias."""

    def __init__(self, embed_dim: int, weight: nn.Parameter) -> None:
        super().__init__()
        self.dense = nn.Linear(embed_dim, embed_dim)
        self.layer_norm = nn.LayerNorm(embed_dim)
        self.weight = weight
        self.bias = nn.Parameter(torch.zeros(weight.shape[0]))

    def after_dense(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` dense output -> ``(B, T, V)`` logits."""
        return F.linear(self.layer_norm(F.gelu(z)), self.weight) + self.bias

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.after_dense(self.dense(features))


class FairseqRoberta(nn.Module):
    """A fairseq 0.10 RoBERTa masked LM (see the module docstring).

    Args:
        vocab_size: tokens of the dictionary (embedding rows).
        num_layers, embed_dim, ffn_embed_dim, attention_heads: the sizes.
        max_positions: the longest token sequence (BOS and EOS included).
        padding_idx: the padding token (fairseq: 1); positions start after it.
    """

    def __init__(
        self,
        vocab_size: int,
        num_layers: int,
        embed_dim: int,
        ffn_embed_dim: int,
        attention_heads: int,
        max_positions: int,
        padding_idx: int = 1,
    ) -> None:
        super().__init__()
        self.padding_idx = padding_idx
        self.max_positions = max_positions
        self.attention_heads = attention_heads
        self.embed_tokens = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.embed_positions = nn.Embedding(
            max_positions + padding_idx + 1, embed_dim, padding_idx=padding_idx
        )
        self.emb_layer_norm = nn.LayerNorm(embed_dim)
        self.layers = nn.ModuleList(
            FairseqRobertaLayer(embed_dim, ffn_embed_dim, attention_heads)
            for _ in range(num_layers)
        )
        self.lm_head = FairseqLMHead(embed_dim, self.embed_tokens.weight)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` tokens -> ``(B, T, D)`` last hidden state (the LM head's input)."""
        is_pad = tokens.eq(self.padding_idx)  # (B, T)
        not_pad = (~is_pad).long()
        positions = torch.cumsum(not_pad, dim=1) * not_pad + self.padding_idx
        x = self.embed_tokens(tokens) + self.embed_positions(positions)  # (B, T, D)
        x = self.emb_layer_norm(x) * not_pad.unsqueeze(-1).to(x.dtype)
        for layer in self.layers:
            x = layer(x, is_pad)
        return x

    def forward(self, tokens: torch.Tensor) -> dict[str, Any]:
        features = self.features(tokens)
        return {
            "logits": self.lm_head(features),
            "representations": {len(self.layers): features},
        }


# ---------------------------------------------------------------------------- loading


def fairseq_dictionary(path: Path) -> Vocabulary:
    """The vocabulary of a fairseq masked LM from its ``dict.txt``.

    fairseq numbers ``<s> <pad> </s> <unk>`` first, then the file's symbols in order,
    then ``<mask>`` (added by the masked-LM task).
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise InputError(f"cannot read the fairseq dictionary ({error})", path=path) from error
    symbols = [line.split()[0] for line in lines if line.strip()]
    return Vocabulary(
        [*FAIRSEQ_SPECIALS, *symbols, "<mask>"],
        cls="<s>",
        padding="<pad>",
        eos="</s>",
        unk="<unk>",
        mask="<mask>",
    )


def _strip_prefix(key: str) -> str:
    for prefix in ("decoder.sentence_encoder.", "decoder."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def model_from_fairseq_checkpoint(data: dict, path: Path) -> tuple[FairseqRoberta, Vocabulary]:
    """A fairseq RoBERTa checkpoint (``args``, ``model``), with ``dict.txt`` beside it."""
    args: argparse.Namespace = data["args"]
    if getattr(args, "encoder_normalize_before", False):
        raise InputError("pre-LayerNorm fairseq RoBERTa models are not supported", path=path)
    if getattr(args, "activation_fn", "gelu") != "gelu":
        raise InputError(f"activation {args.activation_fn!r} is not supported (gelu)", path=path)
    dictionary = path.with_name("dict.txt")
    if not dictionary.is_file():
        raise InputError(f"a fairseq checkpoint needs its dictionary at {dictionary}", path=path)
    vocabulary = fairseq_dictionary(dictionary)
    state = {_strip_prefix(key): value for key, value in data["model"].items()}
    try:
        model = FairseqRoberta(
            vocab_size=state["embed_tokens.weight"].shape[0],
            num_layers=args.encoder_layers,
            embed_dim=args.encoder_embed_dim,
            ffn_embed_dim=args.encoder_ffn_embed_dim,
            attention_heads=args.encoder_attention_heads,
            max_positions=args.max_positions,
            padding_idx=vocabulary.padding_idx,
        )
    except (AttributeError, KeyError) as error:
        raise InputError(f"fairseq RoBERTa checkpoint lacks {error}", path=path) from error
    check_vocabulary_size(vocabulary, model.embed_tokens)
    if "lm_head.weight" in state and not torch.equal(
        state["lm_head.weight"], state["embed_tokens.weight"]
    ):
        raise InputError("the LM head's projection is not tied to the embedding", path=path)
    load_state(model, state, path)
    return model, vocabulary


def sapiens_file(name: str) -> Path:
    return bundled_file(name, SAPIENS_MODELS[name][0], SAPIENS_SCRIPT)


# ---------------------------------------------------------------------------- the family


@register_family
class FairseqRobertaFamily(ModelFamily):
    """fairseq RoBERTa masked LMs (:class:`FairseqRoberta`), such as Sapiens."""

    name = "fairseq-roberta"
    architectures = ("fairseq-roberta",)
    module_types = (FairseqRoberta,)

    @classmethod
    def known_models(cls) -> list[KnownModel]:
        description = "Sapiens 1.0.5 human antibody {}-chain model (fairseq RoBERTa, 4 x 128)"
        return [
            cls.known(name, description.format(chain), partial(sapiens_file, name), "MIT")
            for name, (_, chain) in SAPIENS_MODELS.items()
        ]

    @classmethod
    def architecture_config(cls, model: nn.Module, alphabet: Any) -> dict[str, Any]:
        check_vocabulary_size(alphabet, model.embed_tokens)
        return {
            "architecture": "fairseq-roberta",
            "vocab_size": model.embed_tokens.num_embeddings,
            "num_layers": len(model.layers),
            "embed_dim": model.embed_tokens.embedding_dim,
            "ffn_embed_dim": model.layers[0].fc1.out_features,
            "attention_heads": model.attention_heads,
            "max_positions": model.max_positions,
            "padding_idx": model.padding_idx,
        }

    @classmethod
    def from_architecture_config(cls, config: dict[str, Any], alphabet: Any) -> nn.Module:
        sizes = {
            key: value for key, value in config.items() if key not in ("architecture", "alphabet")
        }
        return FairseqRoberta(**sizes)

    @property
    def max_residues(self) -> int:
        return self.model.max_positions - 2

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.features(tokens)  # (B, T, D)

    @property
    def dense(self) -> nn.Linear:
        return self.model.lm_head.dense

    def head_after_dense(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.lm_head.after_dense(z)  # (B, T, V)

    def own_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)["logits"]

    def own_hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)["representations"][len(self.model.layers)]
