"""Small pools and tiny models for the scoring tests (tests/influence, tests/cli)."""

from __future__ import annotations

import numpy as np
import torch

from biocoreset_viz.influence import fit_fisher, score
from biocoreset_viz.models import build_esm1b, build_esm2, rna_alphabet
from biocoreset_viz.sequences import SequenceSet


def random_pool(n: int, low: int, high: int, seed: int = 0, letters: str = "ACGU") -> SequenceSet:
    """``n`` random sequences of ``low`` to ``high - 1`` letters."""
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list(letters), rng.integers(low, high))) for _ in range(n)]
    return SequenceSet.from_sequences(sequences, molecule="rna" if letters == "ACGU" else "protein")


def rna_pool(n: int, low: int, high: int, seed: int = 0) -> SequenceSet:
    """``n`` random RNAs of ``low`` to ``high`` residues (both included)."""
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGU"), rng.integers(low, high + 1))) for _ in range(n)]
    return SequenceSet.from_sequences(sequences, molecule="rna")


def tiny_esm2() -> torch.nn.Module:
    return build_esm2(2, 16, 2, rna_alphabet(), seed=1).double()


def tiny_esm1b() -> torch.nn.Module:
    return build_esm1b(
        2, 16, 2, rna_alphabet(), ffn_embed_dim=32, max_positions=128, seed=2
    ).double()


def fit_and_score(model, sequences, config, run_dir):
    """The Fisher on the pool, then its scores in ``run_dir``: ``(fisher, table)``."""
    alphabet = rna_alphabet()
    fisher = fit_fisher(model, sequences, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, sequences, config, run_dir, alphabet=alphabet, progress=False)
    return fisher, table
