"""A residue vocabulary with any token layout, usable wherever an ``esm.data.Alphabet`` is.

fair-esm's ``Alphabet`` fixes the order of its tokens (special tokens, residues,
padding to a multiple of 8, ``<mask>``). Other families lay out their tokens their
own way (BERT puts ``[PAD]`` at 0, fairseq calls BOS ``<s>``), so they carry a
:class:`Vocabulary`: the token of every id, taken from the model's own tokenizer or
dictionary, and which tokens are BOS, EOS, padding, unknown and mask. It offers the
attributes of ``esm.data.Alphabet`` the package reads, so
:func:`~biocoreset_viz.models.alphabets.encode_batch`, the MLM masking and the
scoring engine treat both alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from biocoreset_viz.errors import ConfigError


class Vocabulary:
    """Token ids of one model, with its special tokens named.

    Args:
        tokens: the token of every id, in id order.
        cls: the token put before every sequence (BOS; ``<cls>``, ``<s>``, ``[CLS]``).
        padding: the padding token.
        eos: the token put after every sequence.
        unk: the token of letters the model does not know.
        mask: the MLM mask token.
        residues: the residue tokens (single letters); default every one-character
            token that is not one of the special ones.

    Attributes:
        cls_idx, padding_idx, eos_idx, unk_idx, mask_idx: the special ids.
        standard_toks: the residue tokens, in id order.
        all_toks: ``tokens``.
        prepend_bos, append_eos: always ``True`` (every family here adds both).
    """

    prepend_bos = True
    append_eos = True

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        cls: str,
        padding: str,
        eos: str,
        unk: str,
        mask: str,
        residues: Sequence[str] | None = None,
    ) -> None:
        self.all_toks = list(tokens)
        self.tok_to_idx = {token: index for index, token in enumerate(self.all_toks)}
        if len(self.tok_to_idx) != len(self.all_toks):
            raise ConfigError("a vocabulary's tokens must be distinct")
        specials = {"cls": cls, "padding": padding, "eos": eos, "unk": unk, "mask": mask}
        for role, token in specials.items():
            if token not in self.tok_to_idx:
                raise ConfigError(f"the {role} token {token!r} is not in the vocabulary")
        self.special_tokens = specials
        self.cls_idx = self.tok_to_idx[cls]
        self.padding_idx = self.tok_to_idx[padding]
        self.eos_idx = self.tok_to_idx[eos]
        self.unk_idx = self.tok_to_idx[unk]
        self.mask_idx = self.tok_to_idx[mask]
        special = set(specials.values())
        if residues is None:
            residues = [t for t in self.all_toks if len(t) == 1 and t not in special]
        missing = [r for r in residues if r not in self.tok_to_idx]
        if missing:
            raise ConfigError(f"residues {missing} are not in the vocabulary")
        self.standard_toks = sorted(residues, key=self.tok_to_idx.__getitem__)

    def __len__(self) -> int:
        return len(self.all_toks)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, residues {''.join(self.standard_toks)!r})"

    def get_idx(self, token: str) -> int:
        """The id of a token (``unk_idx`` for one the vocabulary lacks, as fair-esm's)."""
        return self.tok_to_idx.get(token, self.unk_idx)

    def get_tok(self, index: int) -> str:
        return self.all_toks[index]

    def to_config(self) -> dict[str, Any]:
        """Plain values that :meth:`from_config` turns back into this vocabulary."""
        return {
            "tokens": list(self.all_toks),
            "special_tokens": dict(self.special_tokens),
            "residues": list(self.standard_toks),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Vocabulary:
        return cls(config["tokens"], residues=config["residues"], **config["special_tokens"])
