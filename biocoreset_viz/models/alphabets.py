"""Alphabets and tokenisation: the RNA and protein alphabets, and sequences to padded tokens.

An *alphabet* maps residues to token ids. fair-esm models use ``esm.data.Alphabet``;
the other families use :class:`~biocoreset_viz.models.vocabulary.Vocabulary`, which
has the same attributes (``cls_idx``, ``padding_idx``, ``eos_idx``, ``unk_idx``,
``mask_idx``, ``standard_toks``, ``all_toks``, ``prepend_bos``, ``append_eos``,
``get_idx``, ``get_tok``), so :func:`encode_batch` and :func:`alphabet_molecule`
work on either.
"""

from __future__ import annotations

from collections.abc import Sequence

import esm
import numpy as np
import torch

from biocoreset_viz.errors import ConfigError
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


def protein_alphabet() -> esm.data.Alphabet:
    """The protein alphabet of ESM-1b and ESM-2."""
    return esm.data.Alphabet.from_architecture("ESM-1b")


def alphabet_for_molecule(molecule: Molecule) -> esm.data.Alphabet:
    """:func:`rna_alphabet` for ``"rna"``, :func:`protein_alphabet` for ``"protein"``."""
    if molecule == "rna":
        return rna_alphabet()
    if molecule == "protein":
        return protein_alphabet()
    raise ConfigError(f"molecule must be 'rna' or 'protein', got {molecule!r}")


def alphabet_molecule(alphabet) -> Molecule:
    """``"protein"`` for an amino-acid vocabulary, ``"rna"`` for a nucleotide one."""
    return "protein" if "L" in alphabet.standard_toks else "rna"


def _lookup_table(alphabet) -> np.ndarray:
    """``(256,)`` token id of every ASCII letter (``<unk>`` for letters the alphabet lacks)."""
    table = getattr(alphabet, "_biocoreset_lookup", None)
    if table is None:
        table = np.full(256, alphabet.unk_idx, dtype=np.int64)
        for token in alphabet.standard_toks:
            if len(token) == 1:
                table[ord(token)] = alphabet.get_idx(token)
        alphabet._biocoreset_lookup = table
    return table


def encode_batch(
    alphabet,
    sequences: Sequence[str],
    max_length: int | None = None,
) -> torch.Tensor:
    """Tokenise sequences into one padded batch.

    Each row is ``BOS residues EOS`` (as the alphabet prescribes) followed by
    padding. Letters the alphabet lacks map to ``<unk>``.

    Args:
        alphabet: the model's alphabet (an ``esm.data.Alphabet`` or a
            :class:`~biocoreset_viz.models.vocabulary.Vocabulary`).
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
