"""The sequence-identity baseline: MMseqs2 clusters sampled round-robin, and finding the program."""

from __future__ import annotations

import numpy as np
import pytest

from biocoreset_viz.selection import (
    IdentityClustering,
    MMseqsNotFoundError,
    find_mmseqs,
    identity,
)


def families(seed: int = 0, n_families: int = 4, members: int = 6, length: int = 120):
    rng = np.random.default_rng(seed)
    sequences, family = [], []
    for f in range(n_families):
        base = rng.choice(list("ACGU"), length)
        for _ in range(members):
            copy = base.copy()
            spots = rng.choice(length, 4, replace=False)
            copy[spots] = rng.choice(list("ACGU"), 4)
            sequences.append("".join(copy))
            family.append(f)
    return sequences, np.array(family)


@pytest.mark.mmseqs
def test_identity_clustering_takes_one_per_family() -> None:
    sequences, family = families()
    selector = IdentityClustering(n_select=4, random_state=0, threads=1)
    picked = selector.fit(np.zeros(len(sequences)), sequences=sequences).indices_
    assert selector.n_clusters_ == 4
    assert sorted(family[picked]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.sort(selector.representatives_), picked)
    # clusters are the families
    for label in range(4):
        assert len(np.unique(family[selector.labels_ == label])) == 1


@pytest.mark.mmseqs
def test_identity_clustering_is_seeded() -> None:
    sequences, _ = families(members=10)
    first = IdentityClustering(n_select=20, random_state=0, threads=1)
    second = IdentityClustering(n_select=20, random_state=0, threads=1)
    third = IdentityClustering(n_select=20, random_state=1, threads=1)
    picked = first.fit(None, sequences=sequences).indices_
    np.testing.assert_array_equal(second.fit(None, sequences=sequences).indices_, picked)
    assert not np.array_equal(third.fit(None, sequences=sequences).indices_, picked)
    assert len(np.unique(picked)) == 20


def test_missing_mmseqs_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity.shutil, "which", lambda name: None)
    monkeypatch.setattr(identity.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MMseqsNotFoundError, match=r"pip install 'biocoreset_viz\[mmseqs\]'"):
        find_mmseqs()


def test_bad_mmseqs_executable_is_named() -> None:
    with pytest.raises(MMseqsNotFoundError, match="/no/such/mmseqs"):
        IdentityClustering(n_select=1, executable="/no/such/mmseqs").fit(
            None, sequences=["ACGU", "ACGA"]
        )


def test_identity_needs_sequences() -> None:
    with pytest.raises(ValueError, match="sequences"):
        IdentityClustering(n_select=1).fit(np.arange(10.0))


def test_identity_sequences_must_match_scores() -> None:
    with pytest.raises(ValueError, match="sequences has 2 entries but there are 10 scores"):
        IdentityClustering(n_select=1).fit(np.arange(10.0), sequences=["ACGU", "ACGA"])
