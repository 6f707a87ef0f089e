"""Probes and their metrics on known answers: dot-brackets, F1, top-L precision, decoders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biocoreset_viz.evaluation.probes import (
    StructureProbe,
    base_pair_f1,
    base_pair_metrics,
    candidate_pairs,
    classification_probe,
    dot_bracket_from_pairs,
    embed_sequences,
    greedy_decode,
    parse_dot_bracket,
    structure_example,
    symmetrized_apc,
    top_k_precision,
)
from biocoreset_viz.models import build_esm2, rna_alphabet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ dot-brackets


def test_nested_structure_parses_to_its_pairs() -> None:
    pairs = parse_dot_bracket("((..((...))..))")
    assert pairs.tolist() == [[0, 14], [1, 13], [4, 10], [5, 9]]


def test_pseudoknot_brackets_are_matched_by_type() -> None:
    # an H-type pseudoknot in [] crossing the () stem, plus {} <> and a letter pair
    structure = "((..[[..))..]]{<A..}>a"
    pairs = parse_dot_bracket(structure)
    assert pairs.tolist() == [[0, 9], [1, 8], [4, 13], [5, 12], [14, 19], [15, 20], [16, 21]]


def test_unpaired_characters_are_ignored() -> None:
    assert parse_dot_bracket("(,:_-~)").tolist() == [[0, 6]]
    assert parse_dot_bracket("....").shape == (0, 2)


@pytest.mark.parametrize(
    ("structure", "message"),
    [
        ("(()", r"'\(' at position 1 is never closed"),
        ("(.))", r"'\)' at position 4 closes nothing"),
        ("([)]]", r"'\]' at position 5 closes nothing"),
        ("(.*.)", r"unknown character '\*' at position 3"),
        ("(.x.)", r"'x' at position 3 closes nothing"),
    ],
)
def test_bad_dot_brackets_name_the_position(structure: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dot_bracket(structure)


@st.composite
def pairings(draw):
    """A length and a random set of base pairs, each position in at most one."""
    length = draw(st.integers(2, 60))
    order = draw(st.permutations(range(length)))
    count = draw(st.integers(0, length // 2))
    pairs = [sorted(order[2 * k : 2 * k + 2]) for k in range(count)]
    return length, np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)


@settings(max_examples=150, deadline=None)
@given(pairings())
def test_writing_then_parsing_returns_the_pairs(case) -> None:
    length, pairs = case
    structure = dot_bracket_from_pairs(pairs, length)
    assert len(structure) == length
    assert np.array_equal(parse_dot_bracket(structure), pairs)


def test_nested_pairs_are_written_with_round_brackets_only() -> None:
    assert dot_bracket_from_pairs(np.array([[0, 9], [2, 5]]), 10) == "(.(..)...)"
    assert dot_bracket_from_pairs(np.array([[0, 5], [2, 8]]), 9) == "(.[..)..]"


def test_a_position_in_two_pairs_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="position 0 is in two base pairs"):
        dot_bracket_from_pairs(np.array([[0, 5], [0, 7]]), 9)


# ------------------------------------------------------------------ metrics


def test_f1_of_a_known_pairing() -> None:
    truth = parse_dot_bracket("(((...)))")  # (0,8) (1,7) (2,6)
    predicted = np.array([[0, 8], [7, 1], [3, 5]])  # two right, one given as (j, i), one wrong
    metrics = base_pair_metrics(truth, predicted)
    assert metrics == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    only_one = base_pair_metrics(truth, np.array([[2, 6]]))
    assert only_one == pytest.approx({"precision": 1.0, "recall": 1 / 3, "f1": 0.5})


def test_f1_of_perfect_empty_and_disjoint_predictions() -> None:
    truth = parse_dot_bracket("((..))")
    assert base_pair_f1(truth, truth) == 1.0
    assert base_pair_f1(truth, np.empty((0, 2))) == 0.0
    assert base_pair_f1(truth, np.array([[2, 3]])) == 0.0
    assert base_pair_metrics(np.empty((0, 2)), np.empty((0, 2)))["f1"] == 1.0
    assert base_pair_metrics(np.empty((0, 2)), np.array([[0, 5]]))["precision"] == 0.0


def test_top_k_precision_of_a_known_ranking() -> None:
    pairs = np.array([[0, 9], [1, 8], [2, 7], [0, 5], [3, 9]])
    scores = np.array([0.9, 0.2, 0.8, 0.7, 0.1])
    truth = np.array([[0, 9], [1, 8], [2, 7]])
    # ranking: (0,9) true, (2,7) true, (0,5) false, (1,8) true, (3,9) false
    assert top_k_precision(pairs, scores, truth, 1) == 1.0
    assert top_k_precision(pairs, scores, truth, 3) == pytest.approx(2 / 3)
    assert top_k_precision(pairs, scores, truth, 4) == pytest.approx(3 / 4)
    assert top_k_precision(pairs, scores, truth, 50) == pytest.approx(3 / 5)  # all candidates


def test_top_k_precision_breaks_ties_by_candidate_order() -> None:
    pairs = np.array([[0, 5], [1, 6], [2, 7]])
    truth = np.array([[1, 6]])
    assert top_k_precision(pairs, np.zeros(3), truth, 1) == 0.0
    assert top_k_precision(pairs[::-1], np.zeros(3), truth, 2) == 0.5


def test_top_k_precision_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k_precision(np.array([[0, 5]]), np.array([1.0]), np.empty((0, 2)), 0)
    with pytest.raises(ValueError, match="2 scores for 1 pairs"):
        top_k_precision(np.array([[0, 5]]), np.array([1.0, 2.0]), np.empty((0, 2)), 1)


def test_candidates_respect_the_minimum_separation() -> None:
    pairs = candidate_pairs(10, 4)
    assert (pairs[:, 1] - pairs[:, 0] >= 4).all()
    assert len(pairs) == sum(10 - d for d in range(4, 10))
    with pytest.raises(ValueError, match="min_separation must be >= 1"):
        candidate_pairs(10, 0)


# ------------------------------------------------------------------ greedy decoding


def test_greedy_decoding_uses_each_position_once() -> None:
    pairs = np.array([[0, 9], [0, 8], [1, 8], [2, 9], [3, 7]])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    accepted, accepted_scores = greedy_decode(pairs, scores)
    assert accepted.tolist() == [[0, 9], [1, 8], [3, 7]]
    assert accepted_scores.tolist() == [0.9, 0.7, 0.1]
    assert greedy_decode(pairs, scores, threshold=0.5)[0].tolist() == [[0, 9], [1, 8]]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(-2, 2))
def test_a_higher_threshold_gives_a_prefix_of_the_structure(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    pairs = candidate_pairs(int(rng.integers(5, 30)), 1)
    scores = rng.normal(size=len(pairs))
    full, full_scores = greedy_decode(pairs, scores)
    partial, _ = greedy_decode(pairs, scores, threshold)
    assert np.array_equal(partial, full[full_scores >= threshold])
    positions = full.reshape(-1)
    assert len(np.unique(positions)) == len(positions)


# ------------------------------------------------------------------ structure probe


def _hairpins(count: int, seed: int, signal: float):
    """Structures whose attention marks the true pairs with strength ``signal`` (0 = noise)."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        length = int(rng.integers(24, 48))
        stem = int(rng.integers(4, length // 3))
        start = int(rng.integers(0, length - 2 * stem - 4))
        end = start + 2 * stem + 3 + int(rng.integers(0, length - (start + 2 * stem + 3)))
        pairs = np.array([[start + k, end - k] for k in range(stem)])
        attention = rng.random((2, length, length))  # (C, L, L) noise
        attention[0][pairs[:, 0], pairs[:, 1]] += signal
        residues = rng.normal(size=(length, 8))
        examples.append(structure_example(pairs, residues, attention))
    return examples


def test_a_perfect_signal_gives_perfect_f1_and_the_top_l_ceiling() -> None:
    train, test = _hairpins(30, 0, 5.0), _hairpins(20, 1, 5.0)
    probe = StructureProbe(pca_dim=0).fit(train)
    metrics = probe.evaluate(test)
    assert metrics["f1"] == pytest.approx(1.0)
    # every true pair is ranked above every non-pair: top-L precision = pairs / L
    ceiling = np.mean([len(e.true_pairs) / e.length for e in test])
    assert metrics["top_L_precision"] == pytest.approx(ceiling)


def test_a_random_signal_scores_near_chance() -> None:
    train, test = _hairpins(30, 2, 0.0), _hairpins(40, 3, 0.0)
    metrics = StructureProbe(pca_dim=4).fit(train).evaluate(test)
    chance = np.mean([e.is_pair.mean() for e in test])  # share of candidates that pair
    assert metrics["top_L_precision"] < 3 * chance + 0.02
    assert metrics["f1"] < 0.2


def test_fast_scores_equal_the_regression_on_explicit_features() -> None:
    train = _hairpins(20, 4, 1.0)
    probe = StructureProbe(pca_dim=5).fit(train)
    for example in train[:3]:
        explicit = probe.model_.decision_function(probe._features(example))
        np.testing.assert_allclose(probe.scores(example), explicit, rtol=1e-4, atol=1e-4)


def test_structure_probe_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no training structures"):
        StructureProbe().fit([])
    with pytest.raises(ValueError, match="pca_dim must be >= 0"):
        StructureProbe(pca_dim=-1)
    with pytest.raises(ValueError, match="not fitted"):
        StructureProbe().scores(_hairpins(1, 0, 1.0)[0])
    with pytest.raises(ValueError, match="beyond the 5 residues"):
        structure_example(np.array([[0, 7]]), np.zeros((5, 3)))


def test_apc_maps_are_symmetric_and_remove_the_row_column_background() -> None:
    rng = np.random.default_rng(0)
    corrected = symmetrized_apc(rng.random((3, 12, 12)))
    np.testing.assert_allclose(corrected, np.swapaxes(corrected, 1, 2), atol=1e-12)
    # a rank-one background (outer product of row sums) is removed entirely
    profile = rng.random(12)
    background = np.outer(profile, profile)[None] / 2
    np.testing.assert_allclose(symmetrized_apc(background), 0, atol=1e-12)


# ------------------------------------------------------------------ classification


def test_a_linear_probe_is_perfect_on_separable_classes_and_chance_on_noise() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(3, 6))
    labels = np.repeat(["a", "b", "c"], 40)
    features = centres[np.repeat(np.arange(3), 40)] + rng.normal(size=(120, 6))
    separable = classification_probe(features[::2], labels[::2], features[1::2], labels[1::2])
    assert separable == {"accuracy": 1.0, "macro_f1": 1.0}
    noise = rng.normal(size=(600, 6))
    random_labels = rng.choice(["a", "b", "c"], 600)
    chance = classification_probe(
        noise[:300], random_labels[:300], noise[300:], random_labels[300:]
    )
    assert 0.2 < chance["accuracy"] < 0.47


def test_classification_probe_rejects_one_class() -> None:
    with pytest.raises(ValueError, match="at least two classes"):
        classification_probe(np.zeros((4, 2)), ["a"] * 4, np.zeros((1, 2)), ["a"])


# ------------------------------------------------------------------ model features


def test_embeddings_do_not_depend_on_the_batch_and_come_back_in_order() -> None:
    alphabet = rna_alphabet()
    model = build_esm2(2, 16, 4, alphabet, seed=0)
    sequences = ["ACGUACGUAGGC", "GGGAAACCC", "ACGUUUUAGCAUCGAUCGAUGCA"]
    together = embed_sequences(model, alphabet, sequences, attention=True)
    for sequence, features in zip(sequences, together, strict=True):
        alone = embed_sequences(model, alphabet, [sequence], attention=True)[0]
        assert features.residues.shape == (len(sequence), 16)
        assert features.attention.shape == (2 * 4, len(sequence), len(sequence))
        np.testing.assert_allclose(features.residues, alone.residues, atol=1e-5)
        np.testing.assert_allclose(features.attention, alone.attention, atol=1e-5)
    cut = embed_sequences(model, alphabet, sequences, max_length=5)
    assert [f.residues.shape[0] for f in cut] == [5, 5, 5]
