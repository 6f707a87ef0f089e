"""Tokenisation through the alphabets, and token-budget batching."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biocoreset_viz.models import (
    encode_batch,
    protein_alphabet,
    rna_alphabet,
)

# ---------------------------------------------------------------------------
# Tokenisation and token-budget batching

rna_sequences = st.lists(
    st.text(alphabet="ACGUN", min_size=1, max_size=40), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(sequences=rna_sequences, max_length=st.one_of(st.none(), st.integers(1, 50)))
def test_encode_batch_adds_bos_eos_and_padding(sequences, max_length):
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, sequences, max_length=max_length)
    kept = [len(s) if max_length is None else min(len(s), max_length) for s in sequences]
    assert tokens.shape == (len(sequences), max(kept) + 2)
    assert tokens.dtype == torch.int64
    for row, sequence, length in zip(tokens.tolist(), sequences, kept, strict=True):
        assert row[0] == alphabet.cls_idx
        assert [alphabet.get_tok(t) for t in row[1 : length + 1]] == list(sequence[:length])
        assert row[length + 1] == alphabet.eos_idx
        assert all(t == alphabet.padding_idx for t in row[length + 2 :])


def test_encode_batch_maps_unknown_letters_to_unk():
    alphabet = protein_alphabet()
    tokens = encode_batch(alphabet, ["A@C"])
    assert tokens[0, 2].item() == alphabet.unk_idx
