"""Checkpoint files: safe reading, recognising a format by its content, this package's own format.

This package's format (:func:`save_model`) is a ``torch.save`` dictionary
``{"format": CHECKPOINT_FORMAT, "config", "model", "metadata"}``: the architecture
(an ``architecture`` tag that names the family's builder, and its sizes) and the
alphabet in ``config``, the state dict in ``model``. It holds only tensors and plain
values, so it loads without unpickling code. The bundled demo models and the
vendored Sapiens weights are stored in it.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path
from typing import Any

import esm
import torch
from torch import nn

from biocoreset_viz.errors import InputError
from biocoreset_viz.models.alphabets import rna_alphabet
from biocoreset_viz.models.family import family_for_architecture, family_of
from biocoreset_viz.models.vocabulary import Vocabulary

CHECKPOINT_FORMAT = "biocoreset_viz.model/1"
# fair-esm's contact regression is released as a separate file: optional on loading
CONTACT_REGRESSION = {"contact_head.regression.weight", "contact_head.regression.bias"}
# the keys by which a raw ESM-C state dict (EvolutionaryScale's release) is recognised
ESMC_KEYS = ("embed.weight", "transformer.norm.weight", "sequence_head.0.weight")


def read_checkpoint(path: Path, *, trusted: bool) -> Any:
    """``torch.load`` a file; untrusted files may hold only tensors, containers and Namespaces.

    Raises:
        InputError: not a PyTorch file, or (untrusted) one holding other Python objects.
    """
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


def load_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    path: Path,
    optional: set[str] = CONTACT_REGRESSION,
) -> None:
    """Load a state dict strictly, except for the ``optional`` keys (fair-esm's contact head).

    Raises:
        InputError: keys missing or unexpected, or shapes that do not fit.
    """
    expected = set(model.state_dict())
    missing = expected - set(state) - optional
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


def checkpoint_kind(data: Any) -> str | None:
    """Which checkpoint format a loaded object is, judged by its content.

    Returns:
        ``CHECKPOINT_FORMAT`` (this package's), ``"esm2"`` (fair-esm ESM-2),
        ``"rna-fm"`` (ESM-1b architecture, RNA vocabulary), ``"esm1"`` (another
        fairseq ESM-1/ESM-1b checkpoint), ``"fairseq-roberta"`` (a fairseq RoBERTa
        masked LM such as Sapiens), ``"esmc"`` (a raw ESM-C state dict) or ``None``.
    """
    if not isinstance(data, dict):
        return None
    if all(key in data for key in ESMC_KEYS) and all(
        isinstance(value, torch.Tensor) for value in data.values()
    ):
        return "esmc"
    if not isinstance(data.get("model"), dict):
        return None
    if data.get("format") == CHECKPOINT_FORMAT:
        return CHECKPOINT_FORMAT
    if isinstance(data.get("cfg"), dict) and "model" in data["cfg"]:
        return "esm2"
    args = data.get("args")
    if isinstance(args, argparse.Namespace) and hasattr(args, "arch"):
        state = data["model"]
        if str(args.arch).startswith("roberta") and any(
            key.startswith("decoder.sentence_encoder.") for key in state
        ):
            return "fairseq-roberta"
        embedding = next((v for k, v in state.items() if k.endswith("embed_tokens.weight")), None)
        rna_vocabulary = embedding is not None and embedding.shape[0] == len(rna_alphabet())
        return "rna-fm" if args.arch == "roberta_large" and rna_vocabulary else "esm1"
    return None


def checkpoint_metadata(name_or_path: str | Path) -> dict[str, Any]:
    """The ``metadata`` saved with a checkpoint of this package's format (else ``{}``)."""
    from biocoreset_viz.models.registry import model_path

    path = model_path(name_or_path)
    if path.is_dir():
        return {}
    data = read_checkpoint(path, trusted=False)
    if checkpoint_kind(data) != CHECKPOINT_FORMAT:
        return {}
    return dict(data.get("metadata") or {})


# ---------------------------------------------------------------------------- alphabets


def alphabet_config(alphabet: Any) -> dict[str, Any]:
    """Plain values describing an ``esm.data.Alphabet`` or a :class:`Vocabulary`."""
    if isinstance(alphabet, Vocabulary):
        return alphabet.to_config()
    return {
        "standard_toks": list(alphabet.standard_toks),
        "prepend_toks": list(alphabet.prepend_toks),
        "append_toks": list(alphabet.append_toks),
        "prepend_bos": bool(alphabet.prepend_bos),
        "append_eos": bool(alphabet.append_eos),
    }


def alphabet_from_config(config: dict[str, Any]) -> Any:
    if "tokens" in config:
        return Vocabulary.from_config(config)
    return esm.data.Alphabet(
        standard_toks=config["standard_toks"],
        prepend_toks=config["prepend_toks"],
        append_toks=config["append_toks"],
        prepend_bos=config["prepend_bos"],
        append_eos=config["append_eos"],
    )


# ---------------------------------------------------------------------------- saving


def save_model(
    model: nn.Module,
    alphabet: Any,
    path: str | Path,
    *,
    half: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Save a model in this package's checkpoint format, readable by ``load_model``.

    The file holds ``{"format", "config", "model", "metadata"}``: the architecture and
    alphabet in ``config``, the state dict in ``model``. It contains only tensors and
    plain Python values, so it loads without unpickling code.

    Args:
        model: an ESM-2, an ESM-1b-style (``arch="roberta_large"``) or a fairseq
            RoBERTa model.
        alphabet: its alphabet (rebuilt from the file on loading).
        path: the file to write.
        half: store floating-point weights as float16 (half the size; loading
            converts back to float32, so outputs change by float16 rounding).
        metadata: JSON-serialisable values to keep with the weights (how it was
            trained, evaluation results).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: a model of another kind.
        ValueError: the alphabet does not fit the model's embedding.
    """
    path = Path(path)
    try:
        family = family_of(model, alphabet)
    except ValueError as error:
        raise TypeError(str(error)) from None
    dtype = torch.float16 if half else torch.float32
    state = {
        key: value.detach().cpu().to(dtype) if value.is_floating_point() else value.detach().cpu()
        for key, value in model.state_dict().items()
    }
    config = {
        **type(family).architecture_config(model, alphabet),
        "alphabet": alphabet_config(alphabet),
    }
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "config": config,
        "model": state,
        # a JSON round trip keeps only plain values, which load without unpickling code
        "metadata": json.loads(json.dumps(metadata or {})),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def check_vocabulary_size(alphabet: Any, embedding: nn.Embedding) -> None:
    """Raise ``ValueError`` when an alphabet does not have one token per embedding row."""
    if len(alphabet) != embedding.num_embeddings:
        raise ValueError(
            f"the alphabet has {len(alphabet)} tokens but the model embeds "
            f"{embedding.num_embeddings}"
        )


def model_from_own_format(data: dict, path: Path) -> tuple[nn.Module, Any]:
    """The model and alphabet of a file in this package's format."""
    config = data["config"]
    alphabet = alphabet_from_config(config["alphabet"])
    family = family_for_architecture(config["architecture"])
    if family is None:
        raise InputError(f"unknown architecture {config['architecture']!r}", path=path)
    model = family.from_architecture_config(config, alphabet)
    state = {
        key: value.float() if value.is_floating_point() else value
        for key, value in data["model"].items()
    }
    load_state(model, state, path)
    return model, alphabet
