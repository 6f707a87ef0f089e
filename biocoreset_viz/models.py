"""Protein and RNA language models: loading, tokenisation and token-budget batching.

Models are fair-esm modules (``esm.model.esm2.ESM2`` or ESM-1b style
``esm.model.esm1.ProteinBertModel``) paired with an ``esm.data.Alphabet``.
Sequences are always tokenised through the alphabet.
"""

from __future__ import annotations

from collections.abc import Sequence

import esm
import numpy as np
import torch

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
