"""MLM masking, evaluation loss, the unigram baseline and the training loop."""

from __future__ import annotations

import math
import random

import pytest
import torch

from biocoreset_viz.models import build_esm2, encode_batch, protein_alphabet, rna_alphabet
from biocoreset_viz.sequences import PROTEIN_STANDARD, SequenceSet
from biocoreset_viz.train import (
    EVAL_MASKING,
    IGNORE_INDEX,
    MaskingConfig,
    mask_tokens,
    mlm_loss,
    train_mlm,
    unigram_cross_entropy,
)


def random_sequences(count: int, low: int, high: int, letters: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(letters, k=rng.randint(low, high))) for _ in range(count)]


def motif_rnas(count: int, seed: int) -> list[str]:
    """RNAs built from a few repeated motifs: easy to learn, hard for a unigram model."""
    rng = random.Random(seed)
    motifs = ["GGGAAACCC", "AUGCAUGC", "UUCGAA"]
    return ["".join(rng.choice(motifs) for _ in range(rng.randint(3, 8))) for _ in range(count)]


# ---------------------------------------------------------------------------
# Masking


def test_masking_statistics_follow_bert():
    alphabet = protein_alphabet()
    tokens = encode_batch(alphabet, random_sequences(64, 300, 500, PROTEIN_STANDARD, seed=0))
    masked, targets = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(0))
    residues = ~torch.isin(
        tokens, torch.tensor([alphabet.cls_idx, alphabet.eos_idx, alphabet.padding_idx])
    )
    selected = targets != IGNORE_INDEX
    assert abs(selected.sum() / residues.sum() - 0.15) < 0.01
    assert not (selected & ~residues).any()  # BOS, EOS and padding never selected
    assert torch.equal(targets[selected], tokens[selected])
    assert torch.equal(masked[~selected], tokens[~selected])
    share_mask = (masked[selected] == alphabet.mask_idx).float().mean()
    share_same = (masked[selected] == tokens[selected]).float().mean()
    # a random residue equals the original one time in 20
    assert abs(share_mask - 0.8) < 0.02
    assert abs(share_same - (0.1 + 0.1 / 20)) < 0.015
    replaced = selected & (masked != alphabet.mask_idx) & (masked != tokens)
    assert {alphabet.get_tok(t) for t in masked[replaced].tolist()} <= set(PROTEIN_STANDARD)


def test_masking_selects_at_least_one_residue_per_sequence():
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, ["A", "CG", "UUA"] * 50)
    _, targets = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(1))
    assert ((targets != IGNORE_INDEX).sum(dim=1) >= 1).all()


def test_masking_is_determined_by_the_generator_seed():
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, random_sequences(8, 20, 60, "ACGU", seed=2))
    first = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(5))
    again = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(5))
    other = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(6))
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[1], other[1])


def test_evaluation_masking_hides_every_selected_residue():
    alphabet = rna_alphabet()
    tokens = encode_batch(alphabet, random_sequences(16, 50, 80, "ACGU", seed=3))
    masked, targets = mask_tokens(tokens, alphabet, torch.Generator().manual_seed(0), EVAL_MASKING)
    selected = targets != IGNORE_INDEX
    assert (masked[selected] == alphabet.mask_idx).all()


def test_masking_config_rejects_a_zero_mask_probability():
    with pytest.raises(ValueError, match=r"mask_prob must be in \(0, 1\], got 0"):
        MaskingConfig(mask_prob=0)


def test_masking_config_rejects_shares_above_one():
    with pytest.raises(ValueError, match="sum to at most 1, got 0.9 and 0.2"):
        MaskingConfig(mask_token_prob=0.9, random_token_prob=0.2)


# ---------------------------------------------------------------------------
# Evaluation loss and baseline


@pytest.fixture(scope="module")
def tiny_rna_model():
    return build_esm2(2, 32, 4, "rna", seed=0)


def test_mlm_loss_does_not_depend_on_batching(tiny_rna_model):
    sequences = random_sequences(30, 5, 90, "ACGU", seed=4)
    alphabet = tiny_rna_model.alphabet
    small = mlm_loss(tiny_rna_model, alphabet, sequences, seed=3, max_tokens=64)
    large = mlm_loss(tiny_rna_model, alphabet, sequences, seed=3, max_tokens=100_000)
    assert small == pytest.approx(large, rel=1e-5)
    assert mlm_loss(tiny_rna_model, alphabet, sequences, seed=4) != pytest.approx(large, rel=1e-6)


def test_mlm_loss_of_an_untrained_model_is_near_uniform(tiny_rna_model):
    sequences = SequenceSet.from_sequences(random_sequences(20, 30, 60, "ACGU", seed=5))
    loss = mlm_loss(tiny_rna_model, tiny_rna_model.alphabet, sequences)
    # small random weights: close to log(vocabulary size)
    assert abs(loss - math.log(len(tiny_rna_model.alphabet))) < 0.2


def test_mlm_loss_restores_the_training_mode(tiny_rna_model):
    tiny_rna_model.train()
    mlm_loss(tiny_rna_model, tiny_rna_model.alphabet, ["ACGUAGC"])
    assert tiny_rna_model.training
    tiny_rna_model.eval()


def test_mlm_loss_rejects_an_empty_list(tiny_rna_model):
    with pytest.raises(ValueError, match="no sequences to evaluate"):
        mlm_loss(tiny_rna_model, tiny_rna_model.alphabet, [])


def test_unigram_cross_entropy_values():
    # add-one smoothing over {A, C}: p(A) = p(C) = 3/6
    assert unigram_cross_entropy(["AAC", "C"], ["AC"]) == pytest.approx(math.log(2))
    # a letter unseen in training still gets a finite, large cost
    assert unigram_cross_entropy(["AAAA"], ["G"]) == pytest.approx(-math.log(1 / 6))
    uniform = unigram_cross_entropy(["ACGU" * 100], ["ACGU"])
    assert uniform == pytest.approx(math.log(4), rel=1e-3)


def test_unigram_cross_entropy_rejects_nothing_to_evaluate():
    with pytest.raises(ValueError, match="no evaluation residues"):
        unigram_cross_entropy(["ACGU"], [])


# ---------------------------------------------------------------------------
# Training loop


def test_training_lowers_the_heldout_loss():
    model = build_esm2(1, 32, 4, "rna", seed=0)
    train, heldout = motif_rnas(48, seed=0), motif_rnas(12, seed=1)
    log = train_mlm(
        model,
        model.alphabet,
        train,
        epochs=None,
        max_steps=40,
        max_tokens=512,
        lr=5e-3,
        eval_sequences=heldout,
        progress=False,
    )
    assert log[0]["step"] == 0 and math.isnan(log[0]["loss"])
    assert log[-1]["step"] == 40
    # from about log(25 tokens) = 3.2 to near the 4-letter composition, 1.4
    assert log[-1]["eval_loss"] < log[0]["eval_loss"] - 1.5
    assert log[-1]["loss"] < log[1]["loss"] - 1.0
    assert not model.training


def test_training_is_deterministic_for_a_seed():
    sequences = motif_rnas(24, seed=2)

    def run(seed: int):
        model = build_esm2(1, 16, 2, "rna", seed=0)
        log = train_mlm(
            model, model.alphabet, sequences, epochs=2, max_tokens=256, seed=seed, progress=False
        )
        return log, model.state_dict()

    (log_a, state_a), (log_b, state_b), (log_c, _) = run(1), run(1), run(2)
    assert log_a == log_b
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)
    assert [row["loss"] for row in log_a] != [row["loss"] for row in log_c]


def test_training_log_counts_steps_epochs_and_tokens():
    sequences = random_sequences(20, 10, 40, "ACGU", seed=6)
    model = build_esm2(1, 16, 2, "rna", seed=0)
    log = train_mlm(
        model, model.alphabet, sequences, epochs=3, max_tokens=200, max_length=25, progress=False
    )
    steps_per_epoch = len(log) // 3
    assert [row["step"] for row in log] == list(range(1, len(log) + 1))
    assert [row["epoch"] for row in log] == [1 + i // steps_per_epoch for i in range(len(log))]
    # each epoch trains on every sequence once, cut to 25 residues, plus BOS and EOS
    per_epoch = sum(min(len(s), 25) + 2 for s in sequences)
    assert log[steps_per_epoch - 1]["tokens_seen"] == per_epoch
    assert log[-1]["tokens_seen"] == 3 * per_epoch
    # linear warmup to the peak, then decay
    rates = [row["lr"] for row in log]
    assert max(rates) == pytest.approx(4e-4) and rates[-1] < rates[len(rates) // 2]


def test_random_crops_train_on_windows_of_max_length():
    sequences = random_sequences(10, 60, 100, "ACGU", seed=7)
    model = build_esm2(1, 16, 2, "rna", seed=0)
    log = train_mlm(
        model,
        model.alphabet,
        sequences,
        epochs=1,
        max_length=20,
        crop="random",
        max_tokens=500,
        progress=False,
    )
    assert log[-1]["tokens_seen"] == 10 * (20 + 2)


def test_checkpoint_callback_runs_every_n_steps_and_at_the_end():
    calls = []
    model = build_esm2(1, 16, 2, "rna", seed=0)
    train_mlm(
        model,
        model.alphabet,
        motif_rnas(12, seed=3),
        epochs=None,
        max_steps=7,
        max_tokens=64,
        checkpoint_every=3,
        on_checkpoint=lambda step, m, log: calls.append((step, m.training, len(log))),
        progress=False,
    )
    assert calls == [(3, False, 3), (6, False, 6), (7, False, 7)]


def test_evaluation_every_n_steps():
    model = build_esm2(1, 16, 2, "rna", seed=0)
    log = train_mlm(
        model,
        model.alphabet,
        motif_rnas(12, seed=4),
        epochs=None,
        max_steps=5,
        max_tokens=64,
        eval_sequences=motif_rnas(4, seed=5),
        eval_every=2,
        progress=False,
    )
    assert [row["step"] for row in log if "eval_loss" in row] == [0, 2, 4, 5]


def test_training_accepts_a_sequence_set():
    sequences = SequenceSet.from_sequences(motif_rnas(8, seed=6), molecule="rna")
    model = build_esm2(1, 16, 2, "rna", seed=0)
    log = train_mlm(
        model, model.alphabet, sequences, epochs=None, max_steps=2, max_tokens=64, progress=False
    )
    assert len(log) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sequences": []}, "no sequences to train on"),
        ({"sequences": "ACGU"}, "not one string"),
        ({"epochs": None, "max_steps": None}, "give epochs, max_steps or both"),
        ({"epochs": 0}, "epochs and max_steps must be >= 1, got 0 and None"),
        ({"crop": "middle"}, "crop must be 'start' or 'random', got 'middle'"),
        ({"on_checkpoint": print}, "on_checkpoint needs checkpoint_every"),
    ],
)
def test_training_rejects_bad_arguments(kwargs, message):
    model = build_esm2(1, 16, 2, "rna", seed=0)
    arguments = {"sequences": ["ACGU"], "progress": False, **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        train_mlm(model, model.alphabet, **arguments)


# ---------------------------------------------------------------------------
# Every model family


@pytest.mark.parametrize("kind", ["fairseq-roberta", "esmc", "hf-bert", "hf-esm"])
def test_every_family_trains_and_evaluates(kind, tmp_path):
    from support.models import HF_KINDS, tiny_family_model

    if kind in HF_KINDS:
        pytest.importorskip("transformers")
    model, alphabet = tiny_family_model(kind, tmp_path, seed=1)
    proteins = random_sequences(24, 8, 20, PROTEIN_STANDARD, seed=3)
    before = mlm_loss(model, alphabet, proteins, max_tokens=256)
    repeated = mlm_loss(model, alphabet, proteins, max_tokens=64)
    assert math.isfinite(before) and abs(before - repeated) < 1e-4  # batching does not matter
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    log = train_mlm(model, alphabet, proteins, epochs=1, max_tokens=128, lr=1e-3, progress=False)
    assert log and all(math.isfinite(row["loss"]) for row in log)
    assert not model.training
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, weights[n])]
    assert changed


def test_sapiens_beats_the_unigram_baseline_on_human_heavy_chains():
    from biocoreset_viz.datasets import load_demo
    from biocoreset_viz.models import load_model

    antibodies = load_demo("antibody")
    labels = antibodies.labels
    heavy = (labels["species"] == "human") & (labels["chain"] == "heavy")
    sequences = [s for s, keep in zip(antibodies.sequences, heavy, strict=True) if keep]
    model, alphabet = load_model("sapiens-vh")
    loss = mlm_loss(model, alphabet, sequences[::3])
    assert loss < unigram_cross_entropy(sequences, sequences[::3]) - 1.5
