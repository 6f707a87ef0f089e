"""Protein and RNA language models: loading, tokenisation and token-budget batching.

Models are fair-esm modules (``esm.model.esm2.ESM2`` or ESM-1b style
``esm.model.esm1.ProteinBertModel``) paired with an ``esm.data.Alphabet``.
Sequences are always tokenised through the alphabet.

:func:`load_model` takes a name or a checkpoint path and never downloads anything:

* ESM-2 (``esm2_t6_8M_UR50D`` ... ``esm2_t48_15B_UR50D``) and ESM-1b
  (``esm1b_t33_650M_UR50S``): fair-esm checkpoints, looked up as
  ``<torch hub dir>/checkpoints/<name>.pt`` (``torch.hub.get_dir()``, set by
  ``TORCH_HOME``), with the optional ``<name>-contact-regression.pt`` beside them.
* ``rna_fm_t12``: RNA-FM's ``RNA-FM_pretrained.pth`` in the same folder, an
  ESM-1b-architecture model with an RNA alphabet.
* ``demo-rna`` and ``demo-protein``: the small models bundled with this package
  (see ``data/README.md``), in this package's own checkpoint format
  (:func:`save_model`).

A path is recognised by its content: a fair-esm ESM-2 checkpoint
(``{"cfg": {"model": Namespace}, "model": ...}``), a fairseq ESM-1b/RNA-FM
checkpoint (``{"args": Namespace(arch="roberta_large", ...), "model": ...}``; an
RNA vocabulary selects RNA-FM's alphabet) or this package's format.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import warnings
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import esm
import numpy as np
import torch
from torch import nn

from biocoreset_viz.errors import InputError, ModelNotFoundError
from biocoreset_viz.sequences import Molecule

# RNA-FM's RNA vocabulary (ESM-1b layout: <cls> <pad> <eos> <unk>, residues, <mask>).
RNA_TOKENS = ("A", "C", "G", "U", "R", "Y", "K", "M", "S", "W", "B", "D", "H", "V", "N", "-")


def rna_alphabet() -> esm.data.Alphabet:
    """The RNA alphabet of RNA-FM, laid out like ESM-1b's (BOS and EOS added)."""
    return esm.data.Alphabet(
        standard_toks=RNA_TOKENS,
        prepend_toks=("<cls>", "<pad>", "<eos>", "<unk>"),
        append_toks=("<mask>",),
        prepend_bos=True,
        append_eos=True,
    )


def alphabet_molecule(alphabet: esm.data.Alphabet) -> Molecule:
    """``"protein"`` for an amino-acid vocabulary, ``"rna"`` for a nucleotide one."""
    return "protein" if "L" in alphabet.standard_toks else "rna"


def _lookup_table(alphabet: esm.data.Alphabet) -> np.ndarray:
    table = getattr(alphabet, "_biocoreset_lookup", None)
    if table is None:
        table = np.full(256, alphabet.unk_idx, dtype=np.int64)
        for token in alphabet.standard_toks:
            if len(token) == 1:
                table[ord(token)] = alphabet.get_idx(token)
        alphabet._biocoreset_lookup = table
    return table


def encode_batch(
    alphabet: esm.data.Alphabet,
    sequences: Sequence[str],
    max_length: int | None = None,
) -> torch.Tensor:
    """Tokenise sequences into one padded batch.

    Each row is ``BOS residues EOS`` (as the alphabet prescribes) followed by
    padding. Letters the alphabet lacks map to ``<unk>``.

    Args:
        alphabet: the model's alphabet.
        sequences: normalised sequences.
        max_length: keep at most this many residues of each sequence (the rest is
            cut off; BOS and EOS are still added).

    Returns:
        ``(B, T)`` int64 tokens, ``T`` = longest kept sequence + BOS + EOS.
    """
    table = _lookup_table(alphabet)
    bos, eos = int(alphabet.prepend_bos), int(alphabet.append_eos)
    kept = [len(s) if max_length is None else min(len(s), max_length) for s in sequences]
    width = (max(kept) if kept else 0) + bos + eos
    tokens = np.full((len(sequences), width), alphabet.padding_idx, dtype=np.int64)  # (B, T)
    for row, (sequence, length) in enumerate(zip(sequences, kept, strict=True)):
        codes = np.frombuffer(sequence[:length].encode("ascii", "replace"), dtype=np.uint8)
        if bos:
            tokens[row, 0] = alphabet.cls_idx
        tokens[row, bos : bos + length] = table[codes]
        if eos:
            tokens[row, bos + length] = alphabet.eos_idx
    return torch.from_numpy(tokens)


def token_budget_batches(
    lengths: Sequence[int] | np.ndarray,
    max_tokens: int,
    *,
    extra_tokens: int = 2,
    max_batch_size: int | None = None,
) -> list[np.ndarray]:
    """Group sequence indices into length-sorted batches under a token budget.

    A batch's padded size, ``count * (longest + extra_tokens)``, stays within
    ``max_tokens``; a sequence longer than the budget forms a batch of its own.

    Args:
        lengths: residues per sequence, ``(N,)``.
        max_tokens: token budget per batch (padding included).
        extra_tokens: tokens added to every sequence (BOS and EOS).
        max_batch_size: optional cap on sequences per batch.

    Returns:
        Index arrays covering ``range(N)`` exactly once, shortest sequences first.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for position, index in enumerate(order):
        size = position - start + 1
        padded = size * (int(lengths[index]) + extra_tokens)
        too_many = max_batch_size is not None and size > max_batch_size
        if size > 1 and (padded > max_tokens or too_many):
            batches.append(order[start:position])
            start = position
    if start < len(order):
        batches.append(order[start:])
    return batches


def protein_alphabet() -> esm.data.Alphabet:
    """The protein alphabet of ESM-1b and ESM-2."""
    return esm.data.Alphabet.from_architecture("ESM-1b")


def alphabet_for_molecule(molecule: Molecule) -> esm.data.Alphabet:
    """:func:`rna_alphabet` for ``"rna"``, :func:`protein_alphabet` for ``"protein"``."""
    if molecule == "rna":
        return rna_alphabet()
    if molecule == "protein":
        return protein_alphabet()
    raise ValueError(f"molecule must be 'rna' or 'protein', got {molecule!r}")


def parameter_count(model: nn.Module) -> int:
    """Number of parameters, tied weights counted once."""
    return sum(parameter.numel() for parameter in model.parameters())


# ---------------------------------------------------------------------------
# Known names and where their weights live

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

CHECKPOINT_FORMAT = "biocoreset_viz.model/1"
_FAIRSEQ_PREFIX = re.compile(r"^(encoder\.sentence_encoder\.|encoder\.)")
_CONTACT_REGRESSION = {"contact_head.regression.weight", "contact_head.regression.bias"}


def known_models() -> list[str]:
    """Every model name :func:`load_model` accepts (it also takes checkpoint paths)."""
    return [*DEMO_MODELS, *ESM_MODELS, *RNA_FM_MODELS]


def hub_checkpoint_dir() -> Path:
    """Where pretrained weights are looked up: ``<torch.hub.get_dir()>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def model_path(name_or_path: str | Path) -> Path:
    """The checkpoint file a model name or path stands for.

    Raises:
        ModelNotFoundError: the weights are not on this machine (the message says
            where to put them and where to fetch them), the path does not exist, or
            the name is unknown (the message lists the known names).
    """
    name = str(name_or_path)
    if name in DEMO_MODELS:
        path = Path(str(files("biocoreset_viz._bundled") / DEMO_MODELS[name]))
        if not path.is_file():
            raise ModelNotFoundError(
                f"the bundled demo model {name} is missing from {path.parent}; "
                "reinstall biocoreset_viz or run data/scripts/train_demo_models.py"
            )
        return path
    if name in ESM_MODELS:
        return _hub_file(name, f"{name}.pt", ESM_MODEL_URL.format(name=name))
    if name in RNA_FM_MODELS:
        return _hub_file(name, *RNA_FM_MODELS[name])
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.suffix or len(path.parts) > 1:
        raise ModelNotFoundError(f"no model checkpoint at {path}")
    raise ModelNotFoundError(
        f"unknown model {name!r}; known names: {', '.join(known_models())} "
        "(or give the path of a checkpoint file)"
    )


def _hub_file(name: str, file_name: str, url: str) -> Path:
    path = hub_checkpoint_dir() / file_name
    if not path.is_file():
        raise ModelNotFoundError(
            f"{name} weights not found: put {file_name} at {path} (nothing is downloaded at "
            f"run time; fetch it on a machine with internet from {url}), or pass the file's path"
        )
    return path


# ---------------------------------------------------------------------------
# Loading


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    trusted: bool = False,
) -> tuple[nn.Module, esm.data.Alphabet]:
    """Load a protein or RNA language model and its alphabet, offline.

    Args:
        name_or_path: a name from :func:`known_models` or a checkpoint path (the
            format is recognised by content; see the module docstring).
        device: where to put the model.
        trusted: allow checkpoints holding arbitrary pickled Python objects. By
            default only tensors, plain containers and ``argparse.Namespace`` are
            unpickled, so a malicious file cannot run code.

    Returns:
        ``(model, alphabet)``; the model is in eval mode, float32, on ``device``,
        and carries the alphabet as ``model.alphabet``.
        ``alphabet_molecule(alphabet)`` tells its molecule.

    Raises:
        ModelNotFoundError: weights absent (the message says where to put them) or
            unknown name.
        InputError: the file is not a checkpoint this package reads.
    """
    path = model_path(name_or_path)
    data = _read_checkpoint(path, trusted=trusted)
    kind = checkpoint_kind(data)
    if kind is None:
        raise InputError(
            "not a model checkpoint this package reads: expected a fair-esm ESM-2 checkpoint "
            "(cfg + model), a fairseq ESM-1b/RNA-FM checkpoint (args + model) or a "
            f"{CHECKPOINT_FORMAT} file",
            path=path,
        )
    if kind == CHECKPOINT_FORMAT:
        model, alphabet = _model_from_own_format(data, path)
    elif kind == "rna-fm":
        model, alphabet = _model_from_rna_fm(data, path)
    else:
        model, alphabet = _model_from_fair_esm(data, path, kind)
    # ESM-2 keeps its alphabet; ESM-1b-style models get it too, so code given only
    # the model can tokenise
    model.alphabet = alphabet
    return model.float().to(device).eval(), alphabet


def checkpoint_kind(data: Any) -> str | None:
    """Which checkpoint format a loaded object is, judged by its content.

    Returns:
        ``CHECKPOINT_FORMAT`` (this package's), ``"esm2"`` (fair-esm ESM-2),
        ``"rna-fm"`` (ESM-1b architecture, RNA vocabulary), ``"esm1"`` (another
        fairseq ESM-1/ESM-1b checkpoint) or ``None``.
    """
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        return None
    if data.get("format") == CHECKPOINT_FORMAT:
        return CHECKPOINT_FORMAT
    if isinstance(data.get("cfg"), dict) and "model" in data["cfg"]:
        return "esm2"
    args = data.get("args")
    if isinstance(args, argparse.Namespace) and hasattr(args, "arch"):
        embedding = next(
            (v for k, v in data["model"].items() if k.endswith("embed_tokens.weight")), None
        )
        rna_vocabulary = embedding is not None and embedding.shape[0] == len(rna_alphabet())
        return "rna-fm" if args.arch == "roberta_large" and rna_vocabulary else "esm1"
    return None


def checkpoint_metadata(name_or_path: str | Path) -> dict[str, Any]:
    """The ``metadata`` saved with a checkpoint of this package's format (else ``{}``)."""
    data = _read_checkpoint(model_path(name_or_path), trusted=False)
    if checkpoint_kind(data) != CHECKPOINT_FORMAT:
        return {}
    return dict(data.get("metadata") or {})


def _read_checkpoint(path: Path, *, trusted: bool) -> Any:
    try:
        if trusted:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "safe_globals" in str(error):
            raise InputError(
                "the checkpoint holds Python objects other than tensors and argparse.Namespace; "
                "load it with trusted=True only if you trust where it came from",
                path=path,
            ) from error
        raise InputError("not a PyTorch checkpoint (cannot unpickle it)", path=path) from error
    except (EOFError, RuntimeError, KeyError, ValueError, OSError) as error:
        raise InputError(f"not a readable PyTorch checkpoint ({error})", path=path) from error


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load a state dict strictly, except for the optional contact-regression head."""
    expected = set(model.state_dict())
    missing = expected - set(state) - _CONTACT_REGRESSION
    unexpected = set(state) - expected
    if missing or unexpected:
        details = []
        if missing:
            details.append(f"missing {', '.join(sorted(missing)[:5])}")
        if unexpected:
            details.append(f"unexpected {', '.join(sorted(unexpected)[:5])}")
        raise InputError(
            f"weights do not fit the {type(model).__name__} their checkpoint describes: "
            + "; ".join(details),
            path=path,
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        message = str(error).splitlines()[-1].strip()
        raise InputError(f"weights do not fit their architecture: {message}", path=path) from error


def _model_from_fair_esm(data: dict, path: Path, kind: str) -> tuple[nn.Module, esm.data.Alphabet]:
    """ESM-2 and ESM-1b checkpoints, through fair-esm's own loader."""
    stem = path.name.split(".")[0]
    regression_path = path.with_name(f"{stem}-contact-regression.pt")
    regression = (
        _read_checkpoint(regression_path, trusted=False) if regression_path.is_file() else None
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


def _model_from_rna_fm(data: dict, path: Path) -> tuple[nn.Module, esm.data.Alphabet]:
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
    _load_state(model, state, path)
    return model, alphabet


# ---------------------------------------------------------------------------
# This package's checkpoint format


def _alphabet_config(alphabet: esm.data.Alphabet) -> dict[str, Any]:
    return {
        "standard_toks": list(alphabet.standard_toks),
        "prepend_toks": list(alphabet.prepend_toks),
        "append_toks": list(alphabet.append_toks),
        "prepend_bos": bool(alphabet.prepend_bos),
        "append_eos": bool(alphabet.append_eos),
    }


def _alphabet_from_config(config: dict[str, Any]) -> esm.data.Alphabet:
    return esm.data.Alphabet(
        standard_toks=config["standard_toks"],
        prepend_toks=config["prepend_toks"],
        append_toks=config["append_toks"],
        prepend_bos=config["prepend_bos"],
        append_eos=config["append_eos"],
    )


def _model_config(model: nn.Module, alphabet: esm.data.Alphabet) -> dict[str, Any]:
    if isinstance(model, esm.model.esm2.ESM2):
        architecture: dict[str, Any] = {
            "architecture": "esm2",
            "num_layers": model.num_layers,
            "embed_dim": model.embed_dim,
            "attention_heads": model.attention_heads,
            "token_dropout": bool(model.token_dropout),
        }
    elif isinstance(model, esm.model.esm1.ProteinBertModel) and model.args.arch == "roberta_large":
        architecture = {"architecture": "esm1b", "args": dict(vars(model.args))}
    else:
        raise TypeError(
            f"save_model supports ESM-2 and ESM-1b-style models, not {type(model).__name__}"
        )
    if len(alphabet) != model.embed_tokens.num_embeddings:
        raise ValueError(
            f"the alphabet has {len(alphabet)} tokens but the model embeds "
            f"{model.embed_tokens.num_embeddings}"
        )
    return {**architecture, "alphabet": _alphabet_config(alphabet)}


def save_model(
    model: nn.Module,
    alphabet: esm.data.Alphabet,
    path: str | Path,
    *,
    half: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save a model in this package's checkpoint format, readable by :func:`load_model`.

    The file holds ``{"format", "config", "model", "metadata"}``: the architecture and
    alphabet in ``config``, the state dict in ``model``. It contains only tensors and
    plain Python values, so it loads without unpickling code.

    Args:
        model: an ESM-2 or an ESM-1b-style (``arch="roberta_large"``) model.
        alphabet: its alphabet (rebuilt from the file on loading).
        path: the file to write.
        half: store floating-point weights as float16 (half the size; loading
            converts back to float32, so outputs change by float16 rounding).
        metadata: JSON-serialisable values to keep with the weights (how it was
            trained, evaluation results).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    dtype = torch.float16 if half else torch.float32
    state = {
        key: value.detach().cpu().to(dtype) if value.is_floating_point() else value.detach().cpu()
        for key, value in model.state_dict().items()
    }
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "config": _model_config(model, alphabet),
        "model": state,
        # a JSON round trip keeps only plain values, which load without unpickling code
        "metadata": json.loads(json.dumps(metadata or {})),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def _model_from_own_format(data: dict, path: Path) -> tuple[nn.Module, esm.data.Alphabet]:
    config = data["config"]
    alphabet = _alphabet_from_config(config["alphabet"])
    if config["architecture"] == "esm2":
        model: nn.Module = esm.model.esm2.ESM2(
            num_layers=config["num_layers"],
            embed_dim=config["embed_dim"],
            attention_heads=config["attention_heads"],
            alphabet=alphabet,
            token_dropout=config["token_dropout"],
        )
    elif config["architecture"] == "esm1b":
        model = esm.model.esm1.ProteinBertModel(argparse.Namespace(**config["args"]), alphabet)
    else:
        raise InputError(f"unknown architecture {config['architecture']!r}", path=path)
    state = {
        key: value.float() if value.is_floating_point() else value
        for key, value in data["model"].items()
    }
    _load_state(model, state, path)
    return model, alphabet


# ---------------------------------------------------------------------------
# Random-weight models for tests, benchmarks and pretraining from scratch


def _architecture_alphabet(
    embed_dim: int, attention_heads: int, alphabet: esm.data.Alphabet | Molecule
) -> esm.data.Alphabet:
    """Check the width against the heads and resolve a molecule name to its alphabet."""
    if embed_dim % attention_heads:
        raise ValueError(
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
            :func:`protein_alphabet` / :func:`rna_alphabet`.
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
