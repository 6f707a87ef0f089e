"""The model-family layer: the one interface every kind of masked language model implements.

A *family* is a kind of model that the toolkit can score with: fair-esm's ESM-2 /
ESM-1b / RNA-FM and the bundled demo models (:mod:`.fair_esm`), Hugging Face masked
LMs (:mod:`.huggingface`), EvolutionaryScale's ESM-C (:mod:`.esmc`) and fairseq
RoBERTa models such as Sapiens (:mod:`.fairseq_roberta`). Each family is one
subclass of :class:`ModelFamily`, registered with :func:`register_family`; an
instance wraps one loaded ``(model, alphabet)`` pair. :func:`family_of` finds the
family of a loaded model, so code given only ``load_model``'s output can score it.

What a family says (``family = family_of(model, alphabet)``)::

    family.name                      "fair-esm", "huggingface", "esmc", "fairseq-roberta"
    family.molecule                  "protein" or "rna"
    family.alphabet                  the model's own alphabet or vocabulary
    family.encode(sequences, max_length=None) -> (B, T) int64: BOS residues EOS, padded
    family.padding_idx / cls_idx / eos_idx / mask_idx      special token ids
    family.residue_token_ids() -> (R,) int64: the molecule's standard residues (MLM masking)
    family.residue_mask(tokens) -> (B, T) bool: positions holding a residue
    family.max_residues              longest sequence it accepts, BOS and EOS excluded
    family.default_target            e.g. "lm_head.dense.weight" (the D x D dense of the LM head)
    family.lm_head_prefix            e.g. "lm_head." (the "lm_head" target preset)
    family.last_block_prefix         e.g. "layers.5." (the "last_block" target preset)
    family.off_loss_prefixes         parameters the MLM loss never reaches (contact heads)
    family.hidden_states(tokens) -> (B, T, D): the last hidden state, the LM head's input h
    family.dense                     the target dense layer, an nn.Linear(D, D): z = dense(h)
    family.dense_name                its module name, e.g. "lm_head.dense"
    family.head_after_dense(z) -> (B, T, V): the rest of the head (activation, LayerNorm,
                                     output projection)
    family.logits(tokens) -> (B, T, V) = head_after_dense(dense(hidden_states(tokens)))
    family.own_logits(tokens), family.own_hidden_states(tokens)
                                     the same through the model's own forward (the
                                     reference the adapter is tested against; training)

``hidden_states``, ``head_after_dense`` and ``logits`` have no data-dependent
control flow, so ``torch.func.vmap`` can run them for per-sample gradients, and they
call the model's own modules, so ``torch.func.functional_call`` on the model
substitutes parameters in them. The closed-form gradient of the default target is
``delta^T h``, with ``h = hidden_states(tokens)`` and ``delta`` the gradient of the
loss at ``z = dense(h)`` through ``head_after_dense``.

A family also says which names it knows (:meth:`ModelFamily.known_models`, listed by
``biocoreset models``) and, optionally, how to store its models in this package's
checkpoint format (:meth:`ModelFamily.architecture_config`).
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from biocoreset_viz.errors import ConfigError, InputError, ModelNotFoundError
from biocoreset_viz.models.alphabets import alphabet_molecule, encode_batch
from biocoreset_viz.sequences import PROTEIN_STANDARD, RNA_STANDARD, Molecule


@dataclass(frozen=True)
class KnownModel:
    """A model name the toolkit knows.

    Attributes:
        name: what ``load_model`` takes.
        family: the :attr:`ModelFamily.name` of the family that runs it.
        molecule: ``"protein"`` or ``"rna"``.
        default_target: the default target parameter.
        description: one line for listings.
        locate: returns the weights' file or folder, or raises
            :class:`~biocoreset_viz.errors.ModelNotFoundError` saying where they must be.
        licence: the licence of the weights.
    """

    name: str
    family: str
    molecule: Molecule
    default_target: str
    description: str
    locate: Callable[[], Path]
    licence: str = ""

    def weights_present(self) -> bool:
        """Whether the weights are on this machine."""
        try:
            self.locate()
        except ModelNotFoundError:
            return False
        return True


class ModelFamily(abc.ABC):
    """One kind of masked language model, bound to a loaded model (see the module docstring).

    Args:
        model: the loaded model.
        alphabet: its alphabet (default ``model.alphabet``, which ``load_model`` sets).
    """

    name: ClassVar[str]
    # tags of this package's checkpoint format ("architecture") that this family reads
    architectures: ClassVar[tuple[str, ...]] = ()
    # the module classes of this family's models (what the default ``handles`` checks)
    module_types: ClassVar[tuple[type, ...]] = ()
    # the module name of the list of transformer blocks (the default ``last_block_prefix``)
    blocks_name: ClassVar[str] = "layers"
    # the default target of this family's known models
    known_target: ClassVar[str] = "lm_head.dense.weight"
    # whether biocoreset_viz.forward's fair-esm encoder (SDPA, packing, torch.compile) runs it
    fast_encoder: ClassVar[bool] = False

    def __init__(self, model: nn.Module, alphabet: Any = None) -> None:
        alphabet = alphabet if alphabet is not None else getattr(model, "alphabet", None)
        if alphabet is None:
            raise ConfigError("the model carries no alphabet: pass alphabet= (load_model sets it)")
        self.model = model
        self._alphabet = alphabet

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, {self.molecule})"

    # ------------------------------------------------------------------ which models

    @classmethod
    def handles(cls, model: nn.Module) -> bool:
        """Whether a loaded module is a model of this family."""
        return isinstance(model, cls.module_types)

    @classmethod
    def known_models(cls) -> list[KnownModel]:
        """The model names of this family that ``load_model`` accepts."""
        return []

    @classmethod
    def known(
        cls,
        name: str,
        description: str,
        locate: Callable[[], Path],
        licence: str,
        molecule: Molecule = "protein",
    ) -> KnownModel:
        """A :class:`KnownModel` of this family (its default target :attr:`known_target`)."""
        return KnownModel(name, cls.name, molecule, cls.known_target, description, locate, licence)

    @classmethod
    def architecture_config(cls, model: nn.Module, alphabet: Any) -> dict[str, Any]:
        """The ``config`` of this package's checkpoint format for ``model`` (without the alphabet).

        Raises:
            TypeError: this family's models are not stored in that format.
        """
        raise TypeError(f"save_model does not store {type(model).__name__} models")

    @classmethod
    def from_architecture_config(cls, config: dict[str, Any], alphabet: Any) -> nn.Module:
        """A randomly initialised model of :meth:`architecture_config`'s description."""
        raise TypeError(f"{cls.name} models are not stored in this package's format")

    # ------------------------------------------------------------------ tokens

    @property
    def alphabet(self) -> Any:
        return self._alphabet

    @property
    def molecule(self) -> Molecule:
        return alphabet_molecule(self._alphabet)

    def encode(self, sequences: Sequence[str], max_length: int | None = None) -> torch.Tensor:
        """``(B, T)`` int64 tokens: BOS, at most ``max_length`` residues, EOS, padding."""
        return encode_batch(self._alphabet, sequences, max_length)

    @property
    def padding_idx(self) -> int:
        return int(self._alphabet.padding_idx)

    @property
    def cls_idx(self) -> int:
        return int(self._alphabet.cls_idx)

    @property
    def eos_idx(self) -> int:
        return int(self._alphabet.eos_idx)

    @property
    def mask_idx(self) -> int:
        return int(self._alphabet.mask_idx)

    def residue_token_ids(self) -> torch.Tensor:
        """``(R,)`` ids of the molecule's standard residues that the vocabulary has."""
        letters = RNA_STANDARD if self.molecule == "rna" else PROTEIN_STANDARD
        known = set(self._alphabet.standard_toks)
        ids = [self._alphabet.get_idx(letter) for letter in letters if letter in known]
        return torch.tensor(ids, dtype=torch.long)

    def residue_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` bool: positions holding a residue (not BOS, EOS or padding)."""
        special = torch.tensor([self.cls_idx, self.eos_idx, self.padding_idx], device=tokens.device)
        return ~torch.isin(tokens, special)

    # ------------------------------------------------------------------ limits and targets

    @property
    @abc.abstractmethod
    def max_residues(self) -> int:
        """The longest sequence the model accepts, in residues (BOS and EOS excluded)."""

    @property
    def default_target(self) -> str:
        return f"{self.dense_name}.weight"

    @property
    def lm_head_prefix(self) -> str:
        """Parameter-name prefix of the LM head (ends with a dot): the dense layer's top module."""
        return f"{self.dense_name.split('.')[0]}."

    @property
    def last_block_prefix(self) -> str:
        """Parameter-name prefix of the last transformer block (ends with a dot)."""
        blocks = self.model.get_submodule(self.blocks_name)
        return f"{self.blocks_name}.{len(blocks) - 1}."

    @property
    def off_loss_prefixes(self) -> tuple[str, ...]:
        """Prefixes of parameters the MLM loss does not depend on (excluded from ``"all"``)."""
        return ()

    @property
    def blocks_prefix(self) -> str:
        """Parameter-name prefix of the list of blocks, no index (``"layers"``)."""
        return self.last_block_prefix.rstrip(".").rsplit(".", 1)[0]

    def closed_form_targets(self) -> frozenset[str]:
        """The target names with a closed-form gradient: the dense layer's weight and bias
        (none when the head has no dense layer)."""
        try:
            name = self.dense_name
        except InputError:
            return frozenset()
        return frozenset({f"{name}.weight", f"{name}.bias"})

    def architecture_record(self) -> dict[str, Any]:
        """The run manifest's description of the model: architecture, layers, width."""
        prefix = self.blocks_prefix
        blocks = self.model.get_submodule(prefix)
        embedding = next(m for m in self.model.modules() if isinstance(m, nn.Embedding))
        architecture = self.architectures[0] if self.architectures else type(self.model).__name__
        return {
            "architecture": architecture,
            "layers": len(blocks),
            "embed_dim": int(embedding.embedding_dim),
        }

    def functional_forward(self) -> contextlib.AbstractContextManager:
        """The context :func:`logits` runs in under ``torch.func`` transforms (per-sample
        gradients); a family whose fused kernels are slow under ``vmap`` swaps them here."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ forward

    @abc.abstractmethod
    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` last hidden state (the LM head's input) of ``(B, T)`` tokens."""

    @property
    @abc.abstractmethod
    def dense(self) -> nn.Linear:
        """The target dense layer of the LM head, ``(D, D)``."""

    @property
    def dense_name(self) -> str:
        """The module name of :attr:`dense` in the model (e.g. ``"lm_head.dense"``)."""
        dense = self.dense
        for name, module in self.model.named_modules():
            if module is dense:
                return name
        raise ConfigError("the dense layer is not a module of the model")

    @abc.abstractmethod
    def head_after_dense(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` logits from the dense layer's output ``(B, T, D)``."""

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` logits, branch-free (the scoring forward)."""
        return self.head_after_dense(self.dense(self.hidden_states(tokens)))

    @abc.abstractmethod
    def own_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, V)`` logits of the model's own forward pass."""

    @abc.abstractmethod
    def own_hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` last hidden state of the model's own forward pass."""


class FamilyLogits(nn.Module):
    """A family's branch-free :meth:`~ModelFamily.logits` as a module whose parameters are
    the model's (``model.<name>``), so ``torch.func.functional_call`` can swap them."""

    def __init__(self, family: ModelFamily) -> None:
        super().__init__()
        self.model = family.model
        self.family = family

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.family.logits(tokens)  # (B, T, V)


FAMILIES: dict[str, type[ModelFamily]] = {}


def register_family(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: make a family known to :func:`family_of` and ``load_model``."""
    FAMILIES[cls.name] = cls
    return cls


def family_of(model: nn.Module, alphabet: Any = None) -> ModelFamily:
    """The family adapter of a loaded model.

    Raises:
        ConfigError: no registered family handles the model.
    """
    for family in FAMILIES.values():
        if family.handles(model):
            return family(model, alphabet)
    raise ConfigError(
        f"no model family handles {type(model).__name__}; families: {', '.join(FAMILIES)}"
    )


def family_for_architecture(architecture: str) -> type[ModelFamily] | None:
    """The family that stores models of an ``architecture`` tag in this package's format."""
    for family in FAMILIES.values():
        if architecture in family.architectures:
            return family
    return None


def check_molecule(
    family: ModelFamily, molecule: Molecule, *, source: str | Path | None = None
) -> None:
    """Refuse RNA input for a protein model and the reverse.

    Raises:
        InputError: the molecules differ; ``source`` names the input file.
    """
    if molecule != family.molecule:
        raise InputError(
            f"the model is a {family.molecule} model but the input is {molecule}: "
            f"use a {molecule} model",
            path=source,
        )


def parameter_count(model: nn.Module) -> int:
    """Number of parameters, tied weights counted once."""
    return sum(parameter.numel() for parameter in model.parameters())
