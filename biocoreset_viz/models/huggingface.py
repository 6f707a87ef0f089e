"""The Hugging Face family: ``transformers`` masked LMs (an optional extra, ``[hf]``).

A model is a folder written by ``save_pretrained`` (``config.json``, the weights and
the tokenizer's files) or a hub name (``facebook/esm2_t6_8M_UR50D``) already in the
local Hugging Face cache; both load with ``local_files_only=True``, so nothing is
downloaded. ``AutoModelForMaskedLM`` picks the class: ``EsmForMaskedLM`` (default
target ``lm_head.dense.weight``), ``BertForMaskedLM``
(``cls.predictions.transform.dense.weight``), ``RobertaForMaskedLM``
(``lm_head.dense.weight``) and any other masked LM whose head applies a dense layer
to the last hidden state first.

Tokens come from the model's own tokenizer: its vocabulary and special tokens
become a :class:`~biocoreset_viz.models.vocabulary.Vocabulary`, and loading checks
that the tokenizer itself gives one token per residue, the same ids (residues
written together, or separated by spaces as BERT-style protein tokenizers want).

The adapter runs the model's own modules: the base model (``model.base_model``,
with a ``(B, T)`` attention mask of the padding) for the last hidden state, and the
head module (the child holding the output embeddings: ``lm_head``, ``cls``) for the
logits. For the rest of the head after the dense layer, the head runs on ``z``
with the dense layer's output replaced by ``z`` (a forward hook), so any head that
starts with its dense layer works; loading verifies that it does.
"""

from __future__ import annotations

import contextlib
import re
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biocoreset_viz.errors import InputError, MissingDependencyError, ModelNotFoundError
from biocoreset_viz.models.family import KnownModel, ModelFamily, register_family
from biocoreset_viz.models.hf_cache import cached_snapshot, repo_cache_dir
from biocoreset_viz.models.vocabulary import Vocabulary

HF_INSTALL = 'pip install "biocoreset_viz[hf]"'
# hub names listed by `biocoreset models` (any other cached hub name loads too)
HF_MODELS = {
    "facebook/esm2_t6_8M_UR50D": "ESM-2 8M in Hugging Face format",
    "facebook/esm2_t12_35M_UR50D": "ESM-2 35M in Hugging Face format",
    "facebook/esm2_t30_150M_UR50D": "ESM-2 150M in Hugging Face format",
    "facebook/esm2_t33_650M_UR50D": "ESM-2 650M in Hugging Face format",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_FILE_SUFFIXES = {".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".gz"}
# children of a base model that the masked-LM loss never reaches
_OFF_LOSS_CHILDREN = ("contact_head", "pooler")


def require_transformers() -> Any:
    """The ``transformers`` module, or an error with the install command."""
    try:
        import transformers
    except ImportError:
        raise MissingDependencyError(
            f"Hugging Face models need the transformers package: {HF_INSTALL}"
        ) from None
    return transformers


def looks_like_hub_id(name: str) -> bool:
    """Whether a name has the shape of a hub repository id (``org/name``), not of a file."""
    return bool(_HUB_ID.match(name)) and Path(name).suffix not in _FILE_SUFFIXES


def hub_snapshot(repo_id: str) -> Path:
    """The cached folder of a hub model, or an error saying where its files must be."""
    snapshot = cached_snapshot(repo_id, "config.json")
    if snapshot is None:
        raise ModelNotFoundError(
            f"{repo_id} is not in the Hugging Face cache at {repo_cache_dir(repo_id)} "
            "(nothing is downloaded at run time): on a machine with internet run "
            f"`hf download {repo_id}` and copy the cache, or save the model "
            "with save_pretrained and pass that folder"
        )
    return snapshot


def is_pretrained_folder(path: Path) -> bool:
    return (path / "config.json").is_file()


# ---------------------------------------------------------------------------- tokenizer


def _tokenizer_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text)["input_ids"])


def vocabulary_from_tokenizer(tokenizer: Any, path: Path | None = None) -> Vocabulary:
    """The :class:`Vocabulary` of a Hugging Face tokenizer, checked against the tokenizer.

    Raises:
        InputError: a special token is missing, or the tokenizer does not give one
            token per residue with the vocabulary's ids.
    """
    from biocoreset_viz.models.alphabets import encode_batch

    ids = tokenizer.get_vocab()  # token -> id
    tokens = [f"<unused_{index}>" for index in range(max(ids.values()) + 1)]
    for token, index in ids.items():
        tokens[index] = token
    roles = {
        "cls": tokenizer.cls_token or tokenizer.bos_token,
        "padding": tokenizer.pad_token,
        "eos": tokenizer.sep_token or tokenizer.eos_token,
        "unk": tokenizer.unk_token,
        "mask": tokenizer.mask_token,
    }
    absent = [role for role, token in roles.items() if token is None]
    if absent:
        raise InputError(f"the tokenizer has no {' or '.join(absent)} token", path=path)
    special = set(roles.values())
    residues = [t for t in tokens if len(t) == 1 and t.isalpha() and t.isupper()]
    residues = [t for t in residues if t not in special]
    if not residues:
        raise InputError("the tokenizer has no single-letter residue tokens", path=path)
    vocabulary = Vocabulary(tokens, residues=residues, **roles)
    probe = "".join(residues)
    expected = encode_batch(vocabulary, [probe])[0].tolist()
    for text in (probe, " ".join(probe)):
        if _tokenizer_ids(tokenizer, text) == expected:
            return vocabulary
    raise InputError(
        "the tokenizer does not give one token per residue "
        f"({probe[:8]} became {_tokenizer_ids(tokenizer, probe)[:10]})",
        path=path,
    )


def load_tokenizer(path: Path) -> Any:
    """The tokenizer saved in a model folder."""
    transformers = require_transformers()
    try:
        return transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"cannot load the model's tokenizer: {message}", path=path) from error


def load_pretrained_folder(path: Path) -> tuple[nn.Module, Vocabulary]:
    """A masked LM and its vocabulary from a ``save_pretrained`` folder (or a cached snapshot).

    Raises:
        MissingDependencyError: transformers is not installed.
        InputError: the folder is not a masked LM with a per-residue tokenizer.
    """
    if not is_pretrained_folder(path):
        raise InputError(
            "not a model folder: it has no config.json (expected a folder written by "
            "save_pretrained, or a checkpoint file)",
            path=path,
        )
    transformers = require_transformers()
    try:
        model = transformers.AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"transformers cannot load a masked LM here: {message}", path=path
        ) from error
    vocabulary = vocabulary_from_tokenizer(load_tokenizer(path), path)
    return model, vocabulary


# ---------------------------------------------------------------------------- the family


@contextlib.contextmanager
def _attribute_set(owner: Any, name: str, value: Any):
    """``owner.name = value`` while the context lasts, then restored (nothing when absent)."""
    original = getattr(owner, name, None)
    if original is None:
        yield
        return
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _mask_always_built() -> contextlib.AbstractContextManager:
    """Make transformers build the attention mask even when nothing is padded.

    Its mask helpers skip the mask when ``padding_mask.all()``, a data-dependent
    branch that ``torch.func.vmap`` refuses; building it always is equivalent.
    """
    try:
        from transformers import masking_utils
    except ImportError:
        return contextlib.nullcontext()
    never = lambda *args, **kwargs: False  # noqa: E731
    return _attribute_set(masking_utils, "_ignore_bidirectional_mask_sdpa", never)


def _module_name(model: nn.Module, target: nn.Module) -> str:
    return next(name for name, module in model.named_modules() if module is target)


@register_family
class HuggingFaceFamily(ModelFamily):
    """``transformers`` masked LMs (``PreTrainedModel`` with output embeddings)."""

    name = "huggingface"

    @classmethod
    def handles(cls, model: nn.Module) -> bool:
        try:
            from transformers import PreTrainedModel
        except ImportError:
            return False
        return isinstance(model, PreTrainedModel)

    @classmethod
    def known_models(cls) -> list[KnownModel]:
        return [
            cls.known(name, description, partial(hub_snapshot, name), "MIT")
            for name, description in HF_MODELS.items()
        ]

    def __init__(self, model: nn.Module, alphabet: Any = None) -> None:
        super().__init__(model, alphabet)
        self._base = model.base_model
        self._base_name = _module_name(model, self._base)
        self._head_name, self._head = self._find_head()
        # found now, not on first use, which may be under torch.func transforms
        self._dense: nn.Linear | None = None
        self._no_dense: InputError | None = None
        try:
            self._dense = self._find_dense()
        except InputError as error:
            self._no_dense = error

    def _find_head(self) -> tuple[str, nn.Module]:
        """The child of the model that holds the output embeddings (``lm_head``, ``cls``)."""
        output = self.model.get_output_embeddings()
        for name, child in self.model.named_children():
            if child is output or any(module is output for module in child.modules()):
                return name, child
        raise InputError(f"{type(self.model).__name__} has no LM head (no output embeddings)")

    # ------------------------------------------------------------------ limits and targets

    @property
    def max_residues(self) -> int:
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions is None:
            return 1022
        embeddings = getattr(self._base, "embeddings", None)
        offset = getattr(embeddings, "padding_idx", None)
        # ESM and RoBERTa number positions after the padding index
        tokens = positions - (offset + 1 if offset is not None else 0)
        return tokens - 2

    @property
    def last_block_prefix(self) -> str:
        lists = [
            (name, module)
            for name, module in self._base.named_modules()
            if isinstance(module, nn.ModuleList) and len(module)
        ]
        if not lists:
            raise InputError(f"{type(self.model).__name__} has no list of transformer blocks")
        name, blocks = max(lists, key=lambda item: len(item[1]))
        prefix = f"{self._base_name}." if self._base_name else ""
        return f"{prefix}{name}.{len(blocks) - 1}."

    @property
    def off_loss_prefixes(self) -> tuple[str, ...]:
        prefix = f"{self._base_name}." if self._base_name else ""
        return tuple(
            f"{prefix}{name}."
            for name, _ in self._base.named_children()
            if name in _OFF_LOSS_CHILDREN
        )

    # ------------------------------------------------------------------ forward

    def functional_forward(self) -> contextlib.AbstractContextManager:
        """Eager attention: under ``vmap`` the SDPA kernel falls back to a slow batched
        rule, the eager softmax attention batches as plain matrix products."""
        # transformers reads config._attn_implementation at every forward call (its
        # setter sets the sub-configs too), so swapping it changes no weights
        return _attribute_set(self.model.config, "_attn_implementation", "eager")

    def _attention_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.ne(self.padding_idx).long()  # (B, T)

    def hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        with _mask_always_built():
            output = self._base(input_ids=tokens, attention_mask=self._attention_mask(tokens))
        return output[0]  # (B, T, D)

    @property
    def dense(self) -> nn.Linear:
        """The head's dense layer.

        Raises:
            InputError: the head has none; the message names the layers that could be targets.
        """
        if self._dense is None:
            raise self._no_dense
        return self._dense

    def _find_dense(self) -> nn.Linear:
        """The head's first layer: a Linear from the hidden width, verified to come first.

        Raises:
            InputError: none, or the head does not start with it; the message names
                the head's layers that could be targets.
        """
        width = self.model.config.hidden_size
        output = self.model.get_output_embeddings()
        linears = [
            (name, module)
            for name, module in self._head.named_modules()
            if isinstance(module, nn.Linear)
            and module is not output
            and module.in_features == width
        ]
        named = [item for item in linears if item[0].split(".")[-1] == "dense"]
        for _, module in named + [item for item in linears if item not in named]:
            if self._head_starts_with(module):
                return module
        layers = [
            f"{self._head_name}.{name}"
            for name, parameter in self._head.named_parameters()
            if parameter.ndim == 2
        ]
        raise InputError(
            f"the LM head of {type(self.model).__name__} has no dense layer to take as the "
            f"default target; layers that could be targets: {', '.join(layers) or 'none'}"
        )

    def _head_starts_with(self, dense: nn.Linear) -> bool:
        """Whether ``head(h) == rest(dense(h))``, checked on a random ``h`` (head in eval mode)."""
        parameter = next(self._head.parameters())
        generator = torch.Generator().manual_seed(0)
        h = torch.randn(1, 3, dense.in_features, generator=generator).to(parameter)  # (1, 3, D)
        with torch.no_grad():
            expected = self._head(h)
            got = self._run_head_on(dense(h), dense)
        return expected.shape == got.shape and torch.allclose(expected, got, rtol=1e-4, atol=1e-5)

    def _run_head_on(self, z: torch.Tensor, dense: nn.Linear) -> torch.Tensor:
        """The head with ``dense``'s output replaced by ``z`` (its input is only a placeholder)."""
        handle = dense.register_forward_hook(lambda module, args, output: z)
        try:
            placeholder = z.new_zeros(*z.shape[:-1], dense.in_features)
            return self._head(placeholder)
        finally:
            handle.remove()

    def head_after_dense(self, z: torch.Tensor) -> torch.Tensor:
        return self._run_head_on(z, self.dense)  # (B, T, V)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        if self._dense is None:  # a head without a dense layer: other targets still score
            return self._head(self.hidden_states(tokens))  # (B, T, V)
        return super().logits(tokens)

    def own_logits(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=tokens, attention_mask=self._attention_mask(tokens)).logits

    def own_hidden_states(self, tokens: torch.Tensor) -> torch.Tensor:
        output = self.model(
            input_ids=tokens, attention_mask=self._attention_mask(tokens), output_hidden_states=True
        )
        return output.hidden_states[-1]
