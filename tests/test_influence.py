"""Self-influence engine: float64 brute force, invariances, resumability, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.forward import encoder_features
from biocoreset_viz.influence import (
    DiagonalFisher,
    FinetuneSettings,
    FreedMemoryReleaser,
    InfluenceConfig,
    brute_force_gradients,
    brute_force_self_influence,
    fisher_subset_indices,
    fit_fisher,
    mlm_mask_draws,
    resolve_targets,
    score,
    score_run,
)
from biocoreset_viz.models import build_esm1b, build_esm2, encode_batch, rna_alphabet, save_model
from biocoreset_viz.runs import ScoreTable, shard_paths
from biocoreset_viz.sequences import SequenceSet


def random_pool(n: int, low: int, high: int, seed: int = 0, letters: str = "ACGU") -> SequenceSet:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list(letters), rng.integers(low, high))) for _ in range(n)]
    return SequenceSet.from_sequences(sequences, molecule="rna" if letters == "ACGU" else "protein")


def tiny_esm2() -> torch.nn.Module:
    return build_esm2(2, 16, 2, rna_alphabet(), seed=1).double()


def tiny_esm1b() -> torch.nn.Module:
    return build_esm1b(
        2, 16, 2, rna_alphabet(), ffn_embed_dim=32, max_positions=128, seed=2
    ).double()


@pytest.fixture
def float64_softmax(monkeypatch):
    """fair-esm computes attention probabilities in float32 even for float64 models;
    the brute-force reference keeps them in float64 so the comparison is exact math."""
    import esm.multihead_attention as attention

    monkeypatch.setattr(attention, "utils_softmax", lambda x, dim, onnx_trace=False: x.softmax(dim))


TARGETS = [
    "lm_head.dense.weight",
    "lm_head",
    "last_block",
    "all",
    ["lm_head.dense.weight", "layers.0.fc1.bias"],
    r"layers\.1\.self_attn\.(q|k)_proj\.weight",
]
LOSSES = [
    {"loss": "reconstruction"},
    {"loss": "mlm", "mlm_draws": 3},
    {"loss": "reconstruction", "reference_padding": True, "reference_window": 40},
]


@pytest.mark.parametrize("architecture", [tiny_esm2, tiny_esm1b], ids=["esm2", "esm1b"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: str(t)[:24])
@pytest.mark.parametrize("loss", LOSSES, ids=["reconstruction", "mlm", "reference_padding"])
def test_engine_matches_float64_brute_force(tmp_path, float64_softmax, architecture, target, loss):
    model = architecture()
    alphabet = rna_alphabet()
    pool = random_pool(9, 3, 30, seed=3)
    config = InfluenceConfig(target=target, dtype="float64", fisher_subset=5, max_tokens=80, **loss)
    subset = fisher_subset_indices(len(pool), config.fisher_subset, config.seed)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)

    expected_fisher, expected_influence = brute_force_self_influence(
        model, pool, config, alphabet=alphabet, subset=subset
    )
    names = resolve_targets(model, target)
    engine_fisher = torch.cat([fisher.values[n].reshape(-1) for n in names])
    fisher_error = (engine_fisher - expected_fisher).abs().max() / expected_fisher.abs().max()
    influence_error = np.max(
        np.abs(table.scores - expected_influence.numpy()) / expected_influence.numpy()
    )
    assert fisher_error <= 1e-6
    assert influence_error <= 1e-6


def test_stock_fair_esm_reference_agrees_within_its_float32_softmax(tmp_path):
    """Without the float64 softmax the stock forward differs by float32 rounding only."""
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(6, 3, 25, seed=4)
    config = InfluenceConfig(dtype="float64", fisher_subset=6)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    _, expected = brute_force_self_influence(
        model, pool, config, alphabet=alphabet, subset=np.arange(6)
    )
    assert np.max(np.abs(table.scores - expected.numpy()) / expected.numpy()) <= 1e-6


@pytest.mark.parametrize("architecture", [tiny_esm2, tiny_esm1b], ids=["esm2", "esm1b"])
def test_our_forward_equals_fair_esm(float64_softmax, architecture):
    model, alphabet = architecture(), rna_alphabet()
    tokens = encode_batch(alphabet, ["ACGUAGG", "GGCAU", "ACGUACGUACGG"])
    tokens[0, 2] = alphabet.mask_idx  # token dropout path
    with torch.no_grad():
        layers = len(model.layers)
        expected = model(tokens, repr_layers=[layers])["representations"][layers]
        for attention in ("math", "sdpa"):
            ours = encoder_features(model, tokens, attention=attention)
            real = tokens.ne(alphabet.padding_idx)
            assert (ours - expected)[real].abs().max() < 1e-12


@pytest.mark.parametrize("loss", ["reconstruction", "mlm"])
@pytest.mark.parametrize("target", ["lm_head.dense.weight", "last_block"])
def test_scores_do_not_depend_on_batch_size_or_order(tmp_path, loss, target):
    model, alphabet = tiny_esm2(), rna_alphabet()
    pool = random_pool(20, 2, 40, seed=5)
    base = InfluenceConfig(target=target, loss=loss, dtype="float64", fisher_subset=8, mlm_draws=2)
    fisher = fit_fisher(model, pool, base, alphabet=alphabet, progress=False)
    reference = score(model, fisher, pool, base, tmp_path / "a", alphabet=alphabet, progress=False)

    small_batches = InfluenceConfig(**{**base.to_dict(), "max_tokens": 45, "shard_size": 3})
    order = np.random.default_rng(0).permutation(len(pool))
    shuffled = pool.subset(order)
    other = score(
        model, fisher, shuffled, small_batches, tmp_path / "b", alphabet=alphabet, progress=False
    )
    by_id = dict(zip(other.ids, other.scores, strict=True))
    np.testing.assert_allclose([by_id[i] for i in reference.ids], reference.scores, rtol=1e-10)
    losses = dict(zip(other.ids, other.frame["loss"], strict=True))
    np.testing.assert_allclose(
        [losses[i] for i in reference.ids], reference.frame["loss"], rtol=1e-10
    )


def test_same_seed_same_scores_other_seed_other_subset(tmp_path):
    model, alphabet = build_esm2(2, 16, 2, rna_alphabet(), seed=1), rna_alphabet()
    pool = random_pool(30, 5, 30, seed=6)

    def run(seed: int, name: str) -> ScoreTable:
        network = build_esm2(2, 16, 2, rna_alphabet(), seed=1)
        config = InfluenceConfig(seed=seed, fisher_subset=0.3, loss="mlm", mlm_draws=2)
        return score_run(
            pool,
            (network, alphabet),
            tmp_path / name,
            config,
            finetune_settings=FinetuneSettings(epochs=1),
            progress=False,
        )

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    np.testing.assert_array_equal(first.scores, again.scores)
    np.testing.assert_array_equal(first.embeddings, again.embeddings)
    assert not np.allclose(first.scores, other.scores)
    first_subset = (tmp_path / "a" / "fisher_subset.txt").read_text()
    assert first_subset != (tmp_path / "c" / "fisher_subset.txt").read_text()
    del model


def test_embedding_equals_mean_pooled_stock_representation(tmp_path):
    model, alphabet = build_esm2(2, 32, 4, rna_alphabet(), seed=3), rna_alphabet()
    pool = random_pool(7, 4, 50, seed=7)
    config = InfluenceConfig(fisher_subset=7)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    for row, sequence in enumerate(pool.sequences):
        tokens = encode_batch(alphabet, [sequence])
        with torch.no_grad():
            representation = model(tokens, repr_layers=[2])["representations"][2][0]
        expected = representation[1 : len(sequence) + 1].mean(0).numpy()  # residues only
        np.testing.assert_allclose(
            table.embeddings[row].astype(np.float32), expected, rtol=2e-3, atol=2e-3
        )
    assert table.embeddings.dtype == np.float16


def test_scores_are_non_negative_and_the_run_directory_is_complete(tmp_path):
    model, alphabet = build_esm2(2, 16, 2, rna_alphabet(), seed=0), rna_alphabet()
    pool = random_pool(25, 3, 20, seed=8)
    table = score_run(
        pool, (model, alphabet), tmp_path, InfluenceConfig(shard_size=10), progress=False
    )
    assert (table.scores >= 0).all()
    assert len(shard_paths(tmp_path)) == 3
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["counts"] == {"scored": 25, "truncated": 0, "skipped": 0}
    assert manifest["config"]["target"] == "lm_head.dense.weight"
    assert manifest["fisher"]["subset_size"] == 2  # round(0.1 * 25)
    assert manifest["input"]["count"] == 25
    assert manifest["finetune"]["epochs"] == 1 and manifest["finetune"]["steps"] >= 1
    assert (tmp_path / "finetuned_model.pt").exists()
    assert DiagonalFisher.load(tmp_path / "fisher.pt").n_sequences == 2


def test_fisher_save_load_round_trip(tmp_path):
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(5, 3, 20)
    fisher = fit_fisher(
        model,
        pool,
        InfluenceConfig(dtype="float64", fisher_subset=5),
        alphabet=alphabet,
        progress=False,
    )
    path = fisher.save(tmp_path / "fisher.pt")
    assert DiagonalFisher.exists(path)
    loaded = DiagonalFisher.load(path)
    assert loaded.fingerprint() == fisher.fingerprint()
    assert loaded.metadata["subset_ids"] == pool.ids


def test_long_sequences_are_truncated_and_counted(tmp_path):
    model, alphabet = build_esm2(1, 16, 2, rna_alphabet(), seed=0), rna_alphabet()
    pool = SequenceSet.from_sequences(["ACGU" * 10, "ACG", "GGCCA" * 4], molecule="rna")
    config = InfluenceConfig(max_length=12, fisher_subset=3)
    table = score_run(pool, (model, alphabet), tmp_path, config, progress=False)
    assert table.frame["truncated"].tolist() == [True, False, True]
    assert table.frame["length"].tolist() == [40, 3, 20]  # the original length is kept
    assert table.manifest["counts"]["truncated"] == 2


def test_mlm_masks_depend_only_on_id_and_seed():
    alphabet = rna_alphabet()
    alone = encode_batch(alphabet, ["ACGUACGUAC"])
    batched = encode_batch(alphabet, ["ACGUACGUAC", "ACGUACGUACGUACGUACGU"])
    a, _ = mlm_mask_draws(alone, ["x"], alphabet, draws=3, mask_prob=0.15, seed=0)
    b, _ = mlm_mask_draws(batched, ["x", "y"], alphabet, draws=3, mask_prob=0.15, seed=0)
    assert torch.equal(a[0], b[0, :, : a.shape[2]])
    c, _ = mlm_mask_draws(alone, ["x"], alphabet, draws=3, mask_prob=0.15, seed=1)
    assert not torch.equal(a, c)


# ------------------------------------------------------------------------- bad input


def test_unknown_target_lists_the_available_names():
    with pytest.raises(ConfigError) as info:
        resolve_targets(tiny_esm2(), "lm_head.dense.weights")
    message = str(info.value)
    assert "unknown target 'lm_head.dense.weights'" in message
    assert (
        "last_block" in message and "layers.<i>.fc1.weight" in message and "(i = 0..1)" in message
    )


def test_protein_model_on_rna_input(tmp_path):
    protein_model = build_esm2(1, 16, 2, "protein", seed=0)
    pool = random_pool(4, 5, 10)
    with pytest.raises(InputError, match="the model is a protein model but the input is rna"):
        score_run(pool, (protein_model, protein_model.alphabet), tmp_path, progress=False)


def test_empty_input(tmp_path):
    model = tiny_esm2()
    empty = SequenceSet([], [], "rna")
    with pytest.raises(InputError, match="no sequences to score"):
        fit_fisher(model, empty, InfluenceConfig(), alphabet=rna_alphabet(), progress=False)


def test_too_long_with_truncation_error_names_the_record(tmp_path):
    model = tiny_esm2()
    pool = SequenceSet.from_sequences(
        ["ACGU", "ACGUACGUACGU"], ids=["short", "long"], molecule="rna"
    )
    with pytest.raises(InputError, match=r"1 sequences exceed max_length 8 .*\(record 'long'\)"):
        score_run(
            pool,
            (model, rna_alphabet()),
            tmp_path,
            InfluenceConfig(max_length=8, truncation="error"),
            progress=False,
        )


def test_max_length_beyond_the_model_limit():
    model = tiny_esm1b()  # 128 positions: 126 residues
    pool = random_pool(3, 5, 10)
    with pytest.raises(ConfigError, match="exceeds the model's limit of 126 residues"):
        fit_fisher(
            model, pool, InfluenceConfig(max_length=500), alphabet=rna_alphabet(), progress=False
        )


def test_unwritable_run_directory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    model = tiny_esm2()
    with pytest.raises(RunDirectoryError, match="cannot write the run directory"):
        score_run(random_pool(3, 5, 10), (model, rna_alphabet()), blocker / "run", progress=False)


def test_refuses_a_run_made_with_another_config_unless_overwritten(tmp_path):
    alphabet, pool = rna_alphabet(), random_pool(12, 5, 20)
    first = build_esm2(1, 16, 2, alphabet, seed=0)
    score_run(pool, (first, alphabet), tmp_path, InfluenceConfig(fisher_subset=4), progress=False)
    changed = InfluenceConfig(fisher_subset=4, damping=1e-6)
    with pytest.raises(RunDirectoryError, match="different model, input, config or fine-tune"):
        score_run(
            pool,
            (build_esm2(1, 16, 2, alphabet, seed=0), alphabet),
            tmp_path,
            changed,
            progress=False,
        )
    table = score_run(
        pool,
        (build_esm2(1, 16, 2, alphabet, seed=0), alphabet),
        tmp_path,
        changed,
        overwrite=True,
        progress=False,
    )
    assert table.manifest["config"]["damping"] == 1e-6


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("loss", "ce", "loss must be"),
        ("mlm_draws", 0, "mlm_draws must be"),
        ("mask_prob", 1.5, "mask_prob must be"),
        ("damping", -1.0, "damping must be"),
        ("damping_mode", "scaled", "damping_mode must be"),
        ("max_length", 0, "max_length must be"),
        ("truncation", "tail", "truncation must be"),
        ("max_tokens", 0, "max_tokens must be"),
        ("dtype", "float16", "dtype must be"),
        ("device", "gpu", "device must be"),
        ("fisher_subset", 0.0, "fisher_subset must be"),
        ("fisher_subset", 1.5, "fisher_subset must be"),
        ("shard_size", 0, "shard_size must be"),
        ("target", "", "target must be"),
        ("reference_window", 2, "reference_window must be"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(ConfigError, match=message):
        InfluenceConfig(**{field: value})


def test_reference_padding_needs_reconstruction_loss():
    with pytest.raises(ConfigError, match="reference_padding applies to loss='reconstruction'"):
        InfluenceConfig(loss="mlm", reference_padding=True)


def test_config_help_documents_every_field():
    text = InfluenceConfig.help()
    for name in InfluenceConfig.__dataclass_fields__:
        assert f"\n{name} (default" in f"\n{text}"


# ------------------------------------------------------------------------- resumability


@pytest.fixture
def scoring_job(tmp_path):
    """A small checkpoint and a FASTA big enough that scoring takes a few seconds."""
    alphabet = rna_alphabet()
    checkpoint = save_model(build_esm2(2, 48, 4, alphabet, seed=0), alphabet, tmp_path / "model.pt")
    pool = random_pool(1500, 40, 160, seed=9)
    fasta = pool.write_fasta(tmp_path / "pool.fa")

    def command(run_dir: Path) -> list[str]:
        return [
            sys.executable, "-m", "biocoreset_viz", "score", str(fasta),
            "--model", str(checkpoint), "--out", str(run_dir),
            "--shard-size", "40", "--finetune-epochs", "1", "--fisher-subset", "100", "--quiet",
        ]  # fmt: skip

    return command, len(pool)


def test_killed_run_resumes_with_no_row_missing_or_duplicated(tmp_path, scoring_job):
    command, n = scoring_job
    run_dir = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command(run_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while len(shard_paths(run_dir)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(shard_paths(run_dir))
    assert 3 <= partial < -(-n // 40), "the run must be killed midway"
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "scoring"

    resumed = subprocess.run(command(run_dir), env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    table = ScoreTable.load(run_dir)
    assert table.frame["index"].tolist() == list(range(n))
    assert table.frame["id"].is_unique

    straight = subprocess.run(
        command(tmp_path / "straight"), env=env, capture_output=True, text=True, check=False
    )
    assert straight.returncode == 0, straight.stderr
    reference = ScoreTable.load(tmp_path / "straight")
    np.testing.assert_array_equal(table.scores, reference.scores)
    np.testing.assert_array_equal(table.embeddings, reference.embeddings)


# ------------------------------------------------------------ the public brute force


def test_public_brute_force_truncates_like_the_engine_and_takes_strings(tmp_path):
    model, alphabet = tiny_esm2(), rna_alphabet()
    pool = random_pool(6, 15, 40, seed=12)
    config = InfluenceConfig(dtype="float64", fisher_subset=6, max_length=10, damping=1e-3)
    _, influence = brute_force_self_influence(model, pool, config, alphabet=alphabet)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    table = score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert table.frame["truncated"].all()
    np.testing.assert_allclose(influence.numpy(), table.scores, rtol=1e-6)
    gradients = brute_force_gradients(model, pool.sequences, config, alphabet=alphabet)
    assert gradients.shape == (6, 16 * 16) and gradients.dtype == torch.float64
    relative = InfluenceConfig(**{**config.to_dict(), "damping_mode": "relative"})
    fisher_values, relative_influence = brute_force_self_influence(
        model, pool, relative, alphabet=alphabet, subset=np.arange(3)
    )
    torch.testing.assert_close(fisher_values, gradients[:3].square().mean(0))
    expected = (gradients.square() / (fisher_values + 1e-3 * fisher_values.mean())).sum(1)
    torch.testing.assert_close(relative_influence, expected)


def test_freed_memory_is_released_after_every_shard(tmp_path, monkeypatch):
    """Without it a long run's resident memory grows with the shards scored (glibc keeps
    the freed, fragmented tensors of variable-length batches in its heap)."""
    import biocoreset_viz.influence as influence

    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(7, 3, 20, seed=5)
    config = InfluenceConfig(fisher_subset=7, shard_size=3)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    calls = []
    monkeypatch.setattr(influence, "release_freed_memory", lambda: calls.append(1) or True)
    score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert len(calls) == 3  # shards of 3, 3 and 1
    if Path("/lib/x86_64-linux-gnu/libc.so.6").exists():  # glibc: malloc_trim is there
        assert influence._malloc_trim() is not None


def test_freed_memory_is_released_every_so_many_cpu_tokens(monkeypatch):
    import biocoreset_viz.influence as influence

    calls = []
    monkeypatch.setattr(influence, "release_freed_memory", lambda: calls.append(1) or True)
    releaser = FreedMemoryReleaser(torch.device("cpu"), every_tokens=100)
    releaser.count(60)
    assert calls == []
    releaser.count(60)  # 120 >= 100
    assert len(calls) == 1
    releaser.count(99)
    assert len(calls) == 1  # the count starts over after a release
    gpu = FreedMemoryReleaser(torch.device("cuda"), every_tokens=1)
    gpu.count(10**6)
    assert len(calls) == 1  # CUDA tensors do not fragment the host heap


def test_scoring_and_fisher_release_memory_within_a_shard_too(tmp_path, monkeypatch):
    """Within a shard as well: one shard of 4,000 demo RNAs reached 2.9 GiB without it."""
    import biocoreset_viz.influence as influence

    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(7, 3, 20, seed=5)
    config = InfluenceConfig(fisher_subset=7, shard_size=4, max_tokens=40)
    monkeypatch.setattr(influence, "RELEASE_EVERY_TOKENS", 1)
    calls, batches = [], []
    monkeypatch.setattr(influence, "release_freed_memory", lambda: calls.append(1) or True)
    compute = influence.per_sample_gradients
    monkeypatch.setattr(
        influence, "per_sample_gradients", lambda *a, **k: batches.append(1) or compute(*a, **k)
    )
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    assert len(batches) > 1 and len(calls) == len(batches)
    calls.clear()
    batches.clear()
    score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert len(batches) > 2 and len(calls) == len(batches) + 2  # plus one per shard
