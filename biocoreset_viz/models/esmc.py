"""The ESM-C family: EvolutionaryScale's ESM C protein language models, implemented here.

EvolutionaryScale's ``esm`` package installs a top-level module named ``esm``, as
fair-esm does, so the two cannot live side by side; this module implements ESM C's
forward pass itself (:class:`ESMC`, parameter names as in the released weights):

* ``embed``: token embedding (64 rows; the vocabulary has 33 tokens);
* ``transformer.blocks.<i>``: pre-LayerNorm blocks. Attention: ``layernorm_qkv``
  (LayerNorm, then one bias-free Linear to q, k, v), QK-LayerNorm (``q_ln``, ``k_ln``
  over the whole width, no bias), rotary embeddings per head (base 10000, halves
  rotated), softmax attention among the tokens of the same sequence, ``out_proj``.
  Feed-forward: LayerNorm, Linear to ``2 h``, SwiGLU (``silu(a) * b``), Linear back,
  ``h`` = 8/3 of the width rounded up to a multiple of 256. Both residual branches
  are divided by ``sqrt(n_layers / 36)``;
* ``transformer.norm``: the final LayerNorm (no bias); its output is the embedding;
* ``sequence_head``: Linear -> GELU -> LayerNorm -> Linear to 64 logits. Default
  target ``sequence_head.0.weight``.

Tokens are ESM C's own vocabulary (``<cls> <pad> <eos> <unk>``, 28 residue
symbols, ``|``, ``<mask>``); a sequence is ``<cls> residues <eos>``.
``tests/models/test_esmc.py`` checks the logits and hidden states against the
reference implementation (fixture made by ``data/scripts/make_esmc_reference.py``).

Weights: ``esmc_300m`` and ``esmc_600m`` are read from the Hugging Face cache
(repositories and files in :data:`ESMC_MODELS`) or from a ``.pth`` file's path.
ESM C 300M is under the Cambrian Open License, ESM C 600M under the Cambrian
Non-Commercial License (``data/README.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biocoreset_viz.errors import ConfigError, ModelNotFoundError
from biocoreset_viz.models.checkpoints import load_state
from biocoreset_viz.models.family import KnownModel, ModelFamily, register_family
from biocoreset_viz.models.hf_cache import cached_snapshot, repo_cache_dir
from biocoreset_viz.models.vocabulary import Vocabulary

ESMC_TOKENS = (
    "<cls>", "<pad>", "<eos>", "<unk>",
    "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K",
    "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z",
    "O", ".", "-", "|",
    "<mask>",
)  # fmt: skip
ESMC_OUTPUTS = 64  # rows of the embedding and of the output projection
# rotary positions set no hard limit; 2048 tokens, as the reference package's tools cap
# proteins at 2048 residues
ESMC_MAX_RESIDUES = 2046


@dataclass(frozen=True)
class EsmcRelease:
    """Where a released ESM C lives and its size."""

    repo_id: str
    file: str
    d_model: int
    n_heads: int
    n_layers: int
    licence: str


ESMC_MODELS = {
    "esmc_300m": EsmcRelease(
        "EvolutionaryScale/esmc-300m-2024-12",
        "data/weights/esmc_300m_2024_12_v0.pth",
        960,
        15,
        30,
        "Cambrian Open License",
    ),
    "esmc_600m": EsmcRelease(
        "EvolutionaryScale/esmc-600m-2024-12",
        "data/weights/esmc_600m_2024_12_v0.pth",
        1152,
        18,
        36,
        "Cambrian Non-Commercial License",
    ),
}
# heads of a released width (the head width is 64)
_HEADS_BY_WIDTH = {release.d_model: release.n_heads for release in ESMC_MODELS.values()}


def esmc_vocabulary() -> Vocabulary:
    """ESM C's sequence vocabulary, ids as its tokenizer gives them."""
    return Vocabulary(
        ESMC_TOKENS, cls="<cls>", padding="<pad>", eos="<eos>", unk="<unk>", mask="<mask>"
    )


def swiglu_hidden(d_model: int, expansion_ratio: float = 8 / 3) -> int:
    """The feed-forward width: ``expansion_ratio * d_model`` rounded up to a multiple of 256."""
    return int(((expansion_ratio * d_model) + 255) // 256 * 256)


class SwiGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = x.chunk(2, dim=-1)
        return F.silu(gate) * value


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class EsmcAttention(nn.Module):
    """Multi-head self-attention with QK-LayerNorm and rotary embeddings."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.layernorm_qkv = nn.Sequential(
            nn.LayerNorm(d_model), nn.Linear(d_model, 3 * d_model, bias=False)
        )
        self.out_proj = nn.Linear(d_model, d_model, bias=False)
        self.q_ln = nn.LayerNorm(d_model, bias=False)
        self.k_ln = nn.LayerNorm(d_model, bias=False)
        exponents = torch.arange(0, self.d_head, 2, dtype=torch.float32) / self.d_head
        self.register_buffer("inv_freq", 1.0 / (10000.0**exponents), persistent=False)

    def _rotary(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate ``(B, T, H, Dh)`` by position; tables in float32, applied in ``x``'s dtype."""
        positions = torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
        freqs = torch.outer(positions, self.inv_freq.float())  # (T, Dh/2)
        angles = torch.cat((freqs, freqs), dim=-1)[:, None, :]  # (T, 1, Dh)
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        return x * cos + _rotate_half(x) * sin

    def forward(self, x: torch.Tensor, same_sequence: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, T, D)``; ``same_sequence`` ``(B, T, T)`` says who may attend."""
        batch, length, width = x.shape
        q, k, v = self.layernorm_qkv(x).chunk(3, dim=-1)  # (B, T, D) each
        q, k = self.q_ln(q), self.k_ln(k)
        heads = (batch, length, self.n_heads, self.d_head)
        q = self._rotary(q.view(heads)).transpose(1, 2)  # (B, H, T, Dh)
        k = self._rotary(k.view(heads)).transpose(1, 2)
        v = v.view(heads).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2)) * self.d_head**-0.5  # (B, H, T, T)
        scores = scores.masked_fill(~same_sequence[:, None], float("-inf"))
        context = scores.softmax(dim=-1) @ v  # (B, H, T, Dh)
        return self.out_proj(context.transpose(1, 2).reshape(batch, length, width))


class EsmcBlock(nn.Module):
    """A pre-LayerNorm block: attention and SwiGLU feed-forward, residuals scaled down."""

    def __init__(self, d_model: int, n_heads: int, residue_scaling: float) -> None:
        super().__init__()
        hidden = swiglu_hidden(d_model)
        self.attn = EsmcAttention(d_model, n_heads)
        self.ffn = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, 2 * hidden, bias=False),
            SwiGLU(),
            nn.Linear(hidden, d_model, bias=False),
        )
        self.residue_scaling = residue_scaling

    def forward(self, x: torch.Tensor, same_sequence: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x, same_sequence) / self.residue_scaling
        return x + self.ffn(x) / self.residue_scaling


class EsmcStack(nn.Module):
    def __init__(self, d_model: int, n_heads: int, n_layers: int) -> None:
        super().__init__()
        scaling = math.sqrt(n_layers / 36)
        self.blocks = nn.ModuleList(EsmcBlock(d_model, n_heads, scaling) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model, bias=False)


class ESMC(nn.Module):
    """ESM C (see the module docstring): ``(B, T)`` tokens to 64 logits per position.

    Args:
        d_model: the width (a multiple of ``n_heads``).
        n_heads: attention heads.
        n_layers: transformer blocks.
    """

    padding_idx = ESMC_TOKENS.index("<pad>")

    def __init__(self, d_model: int, n_heads: int, n_layers: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.n_heads = n_heads
        self.embed = nn.Embedding(ESMC_OUTPUTS, d_model)
        self.transformer = EsmcStack(d_model, n_heads, n_layers)
        self.sequence_head = nn.Sequential(
            nn.Linear(d_model, d_model),
            nn.GELU(),
            nn.LayerNorm(d_model),
            nn.Linear(d_model, ESMC_OUTPUTS),
        )

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` tokens -> ``(B, T, D)`` embeddings (after the final LayerNorm)."""
        is_real = tokens.ne(self.padding_idx)  # (B, T)
        # as the reference: real tokens attend to real ones, padding to padding
        same_sequence = is_real[:, :, None] == is_real[:, None, :]  # (B, T, T)
        x = self.embed(tokens)  # (B, T, D)
        for block in self.transformer.blocks:
            x = block(x, same_sequence)
        return self.transformer.norm(x)

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        embeddings = self.features(tokens)
        return {"logits": self.sequence_head(embeddings), "embeddings": embeddings}


# ---------------------------------------------------------------------------- loading


def esmc_weights(name: str) -> Path:
    """The released weight file of ``esmc_300m`` / ``esmc_600m`` in the Hugging Face cache."""
    release = ESMC_MODELS[name]
    snapshot = cached_snapshot(release.repo_id, release.file)
    if snapshot is None:
        raise ModelNotFoundError(
            f"{name} weights not found: put {release.file} of the Hugging Face repository "
            f"{release.repo_id} in the Hugging Face cache at {repo_cache_dir(release.repo_id)} "
            f"(nothing is downloaded at run time; on a machine with internet run "
            f"`hf download {release.repo_id}` and copy the cache), "
            "or pass the .pth file's path"
        )
    return snapshot / release.file


def esmc_weights_in(folder: Path) -> Path | None:
    """The ESM C weight file in a downloaded repository folder, or ``None``."""
    found = sorted(folder.glob("data/weights/esmc_*.pth"))
    return found[0] if found else None


def model_from_state_dict(state: dict[str, torch.Tensor], path: Path) -> tuple[ESMC, Vocabulary]:
    """An ESM C from a raw state dict (EvolutionaryScale's ``.pth`` files)."""
    d_model = state["embed.weight"].shape[1]
    n_layers = len({key.split(".")[2] for key in state if key.startswith("transformer.blocks.")})
    model = ESMC(d_model, _HEADS_BY_WIDTH.get(d_model, max(1, d_model // 64)), n_layers)
    load_state(model, state, path, optional=set())
    return model, esmc_vocabulary()


# ---------------------------------------------------------------------------- the family


@register_family
class EsmcFamily(ModelFamily):
    """EvolutionaryScale's ESM C (:class:`ESMC`)."""

    name = "esmc"
    architectures = ("esmc",)
    module_types = (ESMC,)
    blocks_name = "transformer.blocks"
    known_target = "sequence_head.0.weight"

    @classmethod
    def known_models(cls) -> list[KnownModel]:
        return [
            cls.known(
                name,
                f"EvolutionaryScale ESM C ({release.n_layers} layers, {release.d_model} dim)",
                partial(esmc_weights, name),
                release.licence,
            )
            for name, release in ESMC_MODELS.items()
        ]

    @classmethod
    def architecture_config(cls, model: nn.Module, alphabet: Any) -> dict[str, Any]:
        return {
            "architecture": "esmc",
            "d_model": model.embed.embedding_dim,
            "n_heads": model.n_heads,
            "n_layers": len(model.transformer.blocks),
        }

    @classmethod
    def from_architecture_config(cls, config: dict[str, Any], alphabet: Any) -> nn.Module:
        return ESMC(config["d_model"], config["n_heads"], config["n_layers"])

    @property
    def max_residues(self) -> int:
        return ESMC_MAX_RESIDUES

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model.features(tokens)  # (B, T, D)

    @property
    def dense(self) -> nn.Linear:
        return self.model.sequence_head[0]

    def head_after_dense(self, z: torch.Tensor) -> torch.Tensor:
        head = self.model.sequence_head
        return head[3](head[2](head[1](z)))  # (B, T, 64)

    def own_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)["logits"]

    def own_hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)["embeddings"]
