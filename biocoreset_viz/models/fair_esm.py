"""The fair-esm family: ESM-2, ESM-1b, RNA-FM and the bundled demo models.

Models are fair-esm modules (``esm.model.esm2.ESM2`` or the ESM-1b style
``esm.model.esm1.ProteinBertModel``) with an ``esm.data.Alphabet``:

* ESM-2 (``esm2_t6_8M_UR50D`` ... ``esm2_t48_15B_UR50D``) and ESM-1b
  (``esm1b_t33_650M_UR50S``): fair-esm checkpoints, looked up as
  ``<torch hub dir>/checkpoints/<name>.pt`` (``torch.hub.get_dir()``, set by
  ``TORCH_HOME``), with the optional ``<name>-contact-regression.pt`` beside them.
* ``rna_fm_t12``: RNA-FM's ``RNA-FM_pretrained.pth`` in the same folder, an
  ESM-1b-architecture model with an RNA alphabet.
* ``demo-rna`` and ``demo-protein``: the small ESM-2 models bundled with this
  package (``data/README.md``), in this package's checkpoint format.

The adapter's forward is :mod:`biocoreset_viz.forward`'s branch-free
``encoder_features``; :func:`build_esm2` and :func:`build_esm1b` make randomly
initialised models for tests, benchmarks and pretraining from scratch.
"""

from __future__ import annotations

import argparse
import re
import warnings
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import esm
import torch
import torch.nn.functional as F
from torch import nn

from biocoreset_viz.errors import ConfigError, InputError, ModelNotFoundError
from biocoreset_viz.forward import encoder_features, is_esm2, max_positions
from biocoreset_viz.models.alphabets import alphabet_for_molecule, rna_alphabet
from biocoreset_viz.models.checkpoints import check_vocabulary_size, load_state, read_checkpoint
from biocoreset_viz.models.family import KnownModel, ModelFamily, register_family
from biocoreset_viz.sequences import Molecule

ESM_MODEL_URL = "https://dl.fbaipublicfiles.com/fair-esm/models/{name}.pt"
ESM_MODELS = (
    "esm2_t6_8M_UR50D",
    "esm2_t12_35M_UR50D",
    "esm2_t30_150M_UR50D",
    "esm2_t33_650M_UR50D",
    "esm2_t36_3B_UR50D",
    "esm2_t48_15B_UR50D",
    "esm1b_t33_650M_UR50S",
)
# name -> (file name in the hub checkpoint folder, where a user can fetch it)
RNA_FM_MODELS = {
    "rna_fm_t12": (
        "RNA-FM_pretrained.pth",
        "https://proj.cse.cuhk.edu.hk/rnafm/api/download?filename=RNA-FM_pretrained.pth",
    ),
}
# name -> file bundled in biocoreset_viz._bundled
DEMO_MODELS = {"demo-rna": "rna_demo_model.pt", "demo-protein": "protein_demo_model.pt"}
BUNDLED_PACKAGE = "biocoreset_viz._bundled"
# residues of a model whose positions are not learned (ESM-2): its 1024-token training window
ROTARY_MAX_RESIDUES = 1022
_FAIRSEQ_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")


# ---------------------------------------------------------------------------- where weights live


def hub_checkpoint_dir() -> Path:
    """Where pretrained weights are looked up: ``<torch.hub.get_dir()>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hub_file(name: str, file_name: str, url: str) -> Path:
    """A file in :func:`hub_checkpoint_dir`, or an error saying where to put it."""
    path = hub_checkpoint_dir() / file_name
    if not path.is_file():
        raise ModelNotFoundError(
            f"{name} weights not found: put {file_name} at {path} (nothing is downloaded at "
            f"run time; fetch it on a machine with internet from {url}), or pass the file's path"
        )
    return path


def bundled_file(name: str, file_name: str, restore: str) -> Path:
    """A model file bundled with the package, or an error saying how to restore it."""
    path = Path(str(files(BUNDLED_PACKAGE) / file_name))
    if not path.is_file():
        raise ModelNotFoundError(
            f"the bundled model {name} is missing from {path.parent}; "
            f"reinstall biocoreset_viz or run {restore}"
        )
    return path


def demo_model_file(name: str) -> Path:
    return bundled_file(name, DEMO_MODELS[name], "data/scripts/train_demo_models.py")


# ---------------------------------------------------------------------------- loading


def model_from_fair_esm(data: dict, path: Path, kind: str) -> tuple[nn.Module, esm.data.Alphabet]:
    """ESM-2 and ESM-1b checkpoints, through fair-esm's own loader."""
    stem = path.name.split(".")[0]
    regression_path = path.with_name(f"{stem}-contact-regression.pt")
    regression = (
        read_checkpoint(regression_path, trusted=False) if regression_path.is_file() else None
    )
    # fair-esm picks the ESM-2 loader by the name's prefix, so the name must follow the content
    name = f"esm2:{stem}" if kind == "esm2" else f"esm1:{stem}"
    try:
        with warnings.catch_warnings():
            # contact regression weights are optional here; fair-esm warns when absent
            warnings.filterwarnings("ignore", message="Regression weights not found")
            return esm.pretrained.load_model_and_alphabet_core(name, data, regression)
    except (RuntimeError, AttributeError, KeyError, ValueError) as error:
        message = str(error).splitlines()[-1].strip() or type(error).__name__
        raise InputError(f"fair-esm cannot load this checkpoint: {message}", path=path) from error


def model_from_rna_fm(data: dict, path: Path) -> tuple[nn.Module, esm.data.Alphabet]:
    """An RNA-FM checkpoint: ESM-1b architecture, RNA alphabet (mirrors fair-esm's v1 upgrade)."""
    alphabet = rna_alphabet()
    args = {re.sub(r"^encoder_", "", key): value for key, value in vars(data["args"]).items()}
    state = {_FAIRSEQ_PREFIX.sub("", key): value for key, value in data["model"].items()}
    embedding = state["embed_tokens.weight"].clone()
    # as fair-esm does for ESM-1b: the <mask> embedding is zeroed ("for token drop")
    embedding[alphabet.mask_idx].zero_()
    state["embed_tokens.weight"] = embedding
    if "lm_head.weight" in state:  # tied to the embedding in the model
        state["lm_head.weight"] = embedding
    args["emb_layer_norm_before"] = any(key.startswith("emb_layer_norm_before") for key in state)
    try:
        model = esm.model.esm1.ProteinBertModel(argparse.Namespace(**args), alphabet)
    except AttributeError as error:
        raise InputError(f"RNA-FM checkpoint args lack a field: {error}", path=path) from error
    load_state(model, state, path)
    return model, alphabet


# ---------------------------------------------------------------------------- the family


def _esm2_model(config: dict[str, Any], alphabet: esm.data.Alphabet) -> esm.model.esm2.ESM2:
    return esm.model.esm2.ESM2(
        num_layers=config["num_layers"],
        embed_dim=config["embed_dim"],
        attention_heads=config["attention_heads"],
        alphabet=alphabet,
        token_dropout=config["token_dropout"],
    )


@register_family
class FairEsmFamily(ModelFamily):
    """fair-esm's ESM-2 and ESM-1b-style models (ESM-1b, RNA-FM, the demo models)."""

    name = "fair-esm"
    architectures = ("esm2", "esm1b")
    module_types = (esm.model.esm2.ESM2, esm.model.esm1.ProteinBertModel)
    fast_encoder = True

    @classmethod
    def known_models(cls) -> list[KnownModel]:
        demos = [
            cls.known(
                name,
                f"the small bundled {name.split('-')[1]} demo model (ESM-2, 4 layers, 128 dim)",
                partial(demo_model_file, name),
                "MIT (this package)",
                "rna" if name == "demo-rna" else "protein",
            )
            for name in DEMO_MODELS
        ]
        esm_models = [
            cls.known(
                name,
                f"fair-esm {name.split('_')[0].upper()} ({name.split('_')[2]} parameters)",
                partial(hub_file, name, f"{name}.pt", ESM_MODEL_URL.format(name=name)),
                "MIT",
            )
            for name in ESM_MODELS
        ]
        rna_fm = [
            cls.known(
                name,
                "RNA-FM (ESM-1b architecture, 12 layers)",
                partial(hub_file, name, *where),
                "MIT",
                "rna",
            )
            for name, where in RNA_FM_MODELS.items()
        ]
        return demos + esm_models + rna_fm

    @classmethod
    def architecture_config(cls, model: nn.Module, alphabet: Any) -> dict[str, Any]:
        if isinstance(model, esm.model.esm2.ESM2):
            config: dict[str, Any] = {
                "architecture": "esm2",
                "num_layers": model.num_layers,
                "embed_dim": model.embed_dim,
                "attention_heads": model.attention_heads,
                "token_dropout": bool(model.token_dropout),
            }
        elif (
            isinstance(model, esm.model.esm1.ProteinBertModel)
            and model.args.arch == "roberta_large"
        ):
            config = {"architecture": "esm1b", "args": dict(vars(model.args))}
        else:
            raise TypeError(
                "save_model supports ESM-2, ESM-1b-style and fairseq RoBERTa models, "
                f"not {type(model).__name__}"
            )
        check_vocabulary_size(alphabet, model.embed_tokens)
        return config

    @classmethod
    def from_architecture_config(cls, config: dict[str, Any], alphabet: Any) -> nn.Module:
        if config["architecture"] == "esm2":
            return _esm2_model(config, alphabet)
        return esm.model.esm1.ProteinBertModel(argparse.Namespace(**config["args"]), alphabet)

    @property
    def max_residues(self) -> int:
        limit = max_positions(self.model)
        return ROTARY_MAX_RESIDUES if limit is None else limit - 2

    @property
    def off_loss_prefixes(self) -> tuple[str, ...]:
        return ("contact_head.",)

    def architecture_record(self) -> dict[str, Any]:
        return {
            "architecture": "esm2" if is_esm2(self.model) else "esm1b",
            "layers": len(self.model.layers),
            "embed_dim": int(self.model.embed_tokens.embedding_dim),
        }

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        return encoder_features(self.model, tokens, attention="math")  # (B, T, D)

    @property
    def dense(self) -> nn.Linear:
        return self.model.lm_head.dense

    def head_after_dense(self, z: torch.Tensor) -> torch.Tensor:
        head = self.model.lm_head
        hidden = head.layer_norm(F.gelu(z))  # (B, T, D)
        return F.linear(hidden, head.weight) + head.bias  # (B, T, V)

    def own_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)["logits"]

    def own_hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        layers = len(self.model.layers)
        return self.model(tokens, repr_layers=[layers])["representations"][layers]


# ---------------------------------------------------------------------------- random models


def _architecture_alphabet(
    embed_dim: int, attention_heads: int, alphabet: esm.data.Alphabet | Molecule
) -> esm.data.Alphabet:
    """Check the width against the heads and resolve a molecule name to its alphabet."""
    if embed_dim % attention_heads:
        raise ConfigError(
            f"embed_dim ({embed_dim}) must be a multiple of attention_heads ({attention_heads})"
        )
    return alphabet_for_molecule(alphabet) if isinstance(alphabet, str) else alphabet


def build_esm2(
    num_layers: int,
    embed_dim: int,
    attention_heads: int,
    alphabet: esm.data.Alphabet | Molecule = "protein",
    *,
    seed: int = 0,
    token_dropout: bool = True,
) -> esm.model.esm2.ESM2:
    """A randomly initialised ESM-2 of the given size.

    Weights are drawn as fairseq's ``init_bert_params`` does (normal, std 0.02;
    zero biases; zero padding embedding), from a generator seeded with ``seed``;
    the global random state is left untouched.

    Args:
        num_layers: transformer blocks.
        embed_dim: model width (a multiple of ``attention_heads``).
        attention_heads: heads per block.
        alphabet: an alphabet, or ``"protein"`` / ``"rna"`` for
            :func:`~biocoreset_viz.models.alphabets.protein_alphabet` /
            :func:`~biocoreset_viz.models.alphabets.rna_alphabet`.
        seed: initialisation seed.
        token_dropout: fair-esm's ``<mask>`` embedding rescaling (on in ESM-2).

    Returns:
        The model in eval mode (float32, CPU).
    """
    alphabet = _architecture_alphabet(embed_dim, attention_heads, alphabet)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = esm.model.esm2.ESM2(
            num_layers=num_layers,
            embed_dim=embed_dim,
            attention_heads=attention_heads,
            alphabet=alphabet,
            token_dropout=token_dropout,
        )
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Linear):
                    module.weight.normal_(0.0, 0.02, generator=generator)
                    if module.bias is not None:
                        module.bias.zero_()
                elif isinstance(module, nn.Embedding):
                    module.weight.normal_(0.0, 0.02, generator=generator)
                    if module.padding_idx is not None:
                        module.weight[module.padding_idx].zero_()
    return model.eval()


def build_esm1b(
    num_layers: int,
    embed_dim: int,
    attention_heads: int,
    alphabet: esm.data.Alphabet | Molecule = "rna",
    *,
    ffn_embed_dim: int | None = None,
    max_positions: int = 1024,
    seed: int = 0,
) -> esm.model.esm1.ProteinBertModel:
    """A randomly initialised ESM-1b-architecture model, RNA-FM's architecture.

    Unlike ESM-2 it has learned positional embeddings (so a fixed window of
    ``max_positions`` tokens) and no token dropout. Weights are PyTorch's default
    initialisation drawn under ``seed``; the global random state is left untouched.

    Args:
        num_layers, embed_dim, attention_heads, alphabet, seed: as for
            :func:`build_esm2`.
        ffn_embed_dim: feed-forward width (default ``4 * embed_dim``).
        max_positions: learned positions, BOS and EOS included.

    Returns:
        The model in eval mode (float32, CPU).
    """
    alphabet = _architecture_alphabet(embed_dim, attention_heads, alphabet)
    args = argparse.Namespace(
        arch="roberta_large",
        layers=num_layers,
        embed_dim=embed_dim,
        ffn_embed_dim=4 * embed_dim if ffn_embed_dim is None else ffn_embed_dim,
        attention_heads=attention_heads,
        max_positions=max_positions,
        emb_layer_norm_before=True,
        token_dropout=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = esm.model.esm1.ProteinBertModel(args, alphabet)
    return model.eval()
