"""Model names and paths to loaded models: ``known_models``, ``model_path`` and ``load_model``.

:func:`load_model` takes a name or a path and never downloads anything:

* a known name (:func:`known_models`; ``biocoreset models`` lists them with their
  family, default target and whether their weights are here): its family says where
  the weights are;
* a hub name (``org/name``) already in the Hugging Face cache;
* a folder: written by ``save_pretrained`` (Hugging Face), or an ESM C repository
  download (``data/weights/esmc_*.pth``);
* a file, recognised by its content (:func:`~.checkpoints.checkpoint_kind`): a
  fair-esm ESM-2 checkpoint, a fairseq ESM-1b/RNA-FM checkpoint, a fairseq RoBERTa
  checkpoint (with its ``dict.txt``), a raw ESM C state dict, or this package's format.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biocoreset_viz.errors import InputError, ModelNotFoundError
from biocoreset_viz.models import esmc, fair_esm, fairseq_roberta, huggingface
from biocoreset_viz.models.checkpoints import (
    CHECKPOINT_FORMAT,
    checkpoint_kind,
    model_from_own_format,
    read_checkpoint,
)
from biocoreset_viz.models.family import FAMILIES, KnownModel

Loader = Callable[[Any, Path], tuple[nn.Module, Any]]

# checkpoint_kind -> the function that builds the model from the loaded file
LOADERS: dict[str, Loader] = {
    CHECKPOINT_FORMAT: model_from_own_format,
    "esm2": lambda data, path: fair_esm.model_from_fair_esm(data, path, "esm2"),
    "esm1": lambda data, path: fair_esm.model_from_fair_esm(data, path, "esm1"),
    "rna-fm": fair_esm.model_from_rna_fm,
    "fairseq-roberta": fairseq_roberta.model_from_fairseq_checkpoint,
    "esmc": esmc.model_from_state_dict,
}


# the order of listings: the bundled models first
LISTING_ORDER = ("fair-esm", "fairseq-roberta", "esmc", "huggingface")


def model_catalogue() -> dict[str, KnownModel]:
    """Every known model name with its family, default target and where its weights live."""
    order = {name: index for index, name in enumerate(LISTING_ORDER)}
    families = sorted(FAMILIES.values(), key=lambda family: order.get(family.name, len(order)))
    return {known.name: known for family in families for known in family.known_models()}


def known_models() -> list[str]:
    """Every model name :func:`load_model` accepts (it also takes paths and cached hub names)."""
    return list(model_catalogue())


def model_path(name_or_path: str | Path) -> Path:
    """The checkpoint file or model folder a model name or path stands for.

    Raises:
        ModelNotFoundError: the weights are not on this machine (the message says
            where to put them and where to fetch them), the path does not exist, or
            the name is unknown (the message lists the known names).
    """
    name = str(name_or_path)
    catalogue = model_catalogue()
    if name in catalogue:
        return catalogue[name].locate()
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if huggingface.looks_like_hub_id(name):
        return huggingface.hub_snapshot(name)
    if path.suffix or len(path.parts) > 1:
        raise ModelNotFoundError(f"no model checkpoint at {path}")
    raise ModelNotFoundError(
        f"unknown model {name!r}; known names: {', '.join(catalogue)} "
        "(or give the path of a checkpoint file or model folder, or a cached Hugging Face name)"
    )


def _load_folder(path: Path) -> tuple[nn.Module, Any]:
    weights = esmc.esmc_weights_in(path)
    if weights is not None and not huggingface.is_pretrained_folder(path):
        return _load_file(weights, trusted=False)
    return huggingface.load_pretrained_folder(path)


def _load_file(path: Path, *, trusted: bool) -> tuple[nn.Module, Any]:
    data = read_checkpoint(path, trusted=trusted)
    kind = checkpoint_kind(data)
    if kind is None:
        raise InputError(
            "not a model checkpoint this package reads: expected a fair-esm ESM-2 checkpoint "
            "(cfg + model), a fairseq ESM-1b/RNA-FM or RoBERTa checkpoint (args + model), "
            f"an ESM C state dict or a {CHECKPOINT_FORMAT} file",
            path=path,
        )
    return LOADERS[kind](data, path)


def load_model(
    name_or_path: str | Path,
    *,
    device: str | torch.device = "cpu",
    trusted: bool = False,
) -> tuple[nn.Module, Any]:
    """Load a protein or RNA language model and its alphabet, offline.

    Args:
        name_or_path: a name from :func:`known_models`, a cached Hugging Face hub
            name, a model folder or a checkpoint path (see the module docstring).
        device: where to put the model.
        trusted: allow checkpoints holding arbitrary pickled Python objects. By
            default only tensors, plain containers and ``argparse.Namespace`` are
            unpickled, so a malicious file cannot run code.

    Returns:
        ``(model, alphabet)``; the model is in eval mode, float32, on ``device``,
        and carries the alphabet as ``model.alphabet``. ``family_of(model)`` gives
        its family adapter; ``alphabet_molecule(alphabet)`` its molecule.

    Raises:
        ModelNotFoundError: weights absent (the message says where to put them) or
            unknown name.
        MissingDependencyError: a Hugging Face model without ``transformers``.
        InputError: the file or folder is not a model this package reads.
    """
    path = model_path(name_or_path)
    if path.is_dir():
        model, alphabet = _load_folder(path)
    else:
        model, alphabet = _load_file(path, trusted=trusted)
    # ESM-2 keeps its alphabet; the other models get it too, so code given only
    # the model can tokenise
    model.alphabet = alphabet
    return model.float().to(device).eval(), alphabet
