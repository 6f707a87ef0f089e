"""Leakage-free splits: joined clusterings, identity clusters, whole-group splits, the leakage count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.splits import (
    group_split,
    identity_clusters,
    join_labelings,
    kmer_clusters,
    leakage_report,
    mmseqs_available,
)


def _mutant(sequence: str, rate: float, rng: np.random.Generator) -> str:
    letters = list(sequence)
    for spot in rng.choice(len(letters), int(rate * len(letters)), replace=False):
        letters[spot] = rng.choice([b for b in "ACGU" if b != letters[spot]])
    return "".join(letters)


def _families(seed: int = 0, families: int = 8, members: int = 4, length: int = 120):
    """Unrelated random RNAs, each with mutants at 95% identity: (sequences, family)."""
    rng = np.random.default_rng(seed)
    sequences, family = [], []
    for f in range(families):
        base = "".join(rng.choice(list("ACGU"), length))
        for _ in range(members):
            sequences.append(_mutant(base, 0.05, rng))
            family.append(f)
    return sequences, np.array(family)


def test_joining_is_transitive_and_missing_labels_link_nothing() -> None:
    # 0-1 share label a, 1-2 share x, 3 alone, 4 has no labels at all
    first = ["a", "a", "b", "c", None]
    second = [None, "x", "x", "y", None]
    labels = join_labelings(5, [first, second])
    assert labels[0] == labels[1] == labels[2]
    assert len({labels[0], labels[3], labels[4]}) == 3
    assert labels.tolist() == sorted(labels.tolist())  # numbered by first appearance


def test_joining_checks_lengths() -> None:
    with pytest.raises(ValueError, match="a labeling has 2 labels for 3 items"):
        join_labelings(3, [["a", "b"]])


def test_kmer_clusters_group_near_copies_and_separate_unrelated_rnas() -> None:
    sequences, family = _families()
    labels = kmer_clusters(sequences)
    for f in np.unique(family):
        assert len(np.unique(labels[family == f])) == 1
    assert len(np.unique(labels)) == len(np.unique(family))


def test_kmer_clusters_keep_very_different_lengths_apart() -> None:
    rng = np.random.default_rng(1)
    long = "".join(rng.choice(list("ACGU"), 300))
    labels = kmer_clusters([long, long[:100]])  # identical where they overlap, 1/3 coverage
    assert labels[0] != labels[1]


def test_identity_clusters_by_kmers_need_no_program() -> None:
    sequences, family = _families(seed=2)
    sequences.append(sequences[0])  # an exact copy
    labels, described = identity_clusters(sequences, molecule="rna", method="kmer")
    assert labels[-1] == labels[0]
    assert "k-mer" in described and "estimate" in described


@pytest.mark.skipif(not mmseqs_available(), reason="MMseqs2 is not installed")
def test_identity_clusters_by_mmseqs_agree_with_the_families() -> None:
    sequences, family = _families(seed=3, families=6, members=5, length=200)
    labels, described = identity_clusters(sequences, molecule="rna", method="mmseqs")
    assert "MMseqs2" in described
    for f in np.unique(family):
        assert len(np.unique(labels[family == f])) == 1
    assert len(np.unique(labels)) == 6


def test_identity_clusters_reject_an_unknown_method() -> None:
    with pytest.raises(ConfigError, match="clustering must be one of auto, mmseqs, kmer"):
        identity_clusters(["ACGU"], molecule="rna", method="blast")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 12), min_size=2, max_size=80).filter(lambda g: len(set(g)) >= 2),
    st.floats(0.05, 0.95),
    st.integers(0, 1000),
)
def test_group_split_partitions_and_never_splits_a_group(groups, fraction, seed) -> None:
    first, second = group_split(groups, fraction, seed=seed)
    groups = np.asarray(groups)
    assert np.array_equal(np.sort(np.concatenate([first, second])), np.arange(len(groups)))
    assert not set(groups[first]) & set(groups[second])
    assert len(first) and len(second)
    # the second side reaches the fraction unless that would empty the first side
    last_group_left = len(set(groups[first])) == 1
    assert len(second) >= fraction * len(groups) or last_group_left


@pytest.mark.parametrize(
    ("groups", "fraction", "message"),
    [
        ([0, 1, 2], 1.0, r"fraction must be in \(0, 1\)"),
        ([0, 1, 2], 0.0, r"fraction must be in \(0, 1\)"),
        ([5, 5, 5], 0.5, r"cannot split 3 items in 1 group\(s\)"),
    ],
)
def test_group_split_rejects_bad_input(groups, fraction, message) -> None:
    with pytest.raises(ConfigError, match=message):
        group_split(groups, fraction)


def test_leakage_counts_test_sequences_related_to_a_training_side() -> None:
    rows = [
        ("pool", "p1", 1, "pretrain"),
        ("pool", "p2", 2, "heldout"),
        ("pool", "p3", 3, "excluded"),
        ("family", "f1", 4, "train"),
        ("family", "f2", 4, "test"),  # shares its probe's training cluster
        ("family", "f3", 2, "test"),  # a held-out cluster: clean
        ("mlm", "m1", 1, "test"),  # shares a pretraining cluster
        ("mlm", "m2", 3, "test"),  # an excluded cluster is not pretrained on: clean
        ("structure", "s1", 5, "unused"),
    ]
    splits = pd.DataFrame(rows, columns=["dataset", "id", "cluster", "role"])
    assert leakage_report(splits) == {"family": 1, "mlm": 1, "structure": 0}
