"""The whole run: seeds, a complete run directory, one-line errors, refused reruns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.influence import random_pool, tiny_esm2

from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.influence import DiagonalFisher, FinetuneSettings, InfluenceConfig, score_run
from biocoreset_viz.models import build_esm2, rna_alphabet, save_model
from biocoreset_viz.runs import ScoreTable, shard_paths
from biocoreset_viz.sequences import SequenceSet


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


def test_protein_model_on_rna_input(tmp_path):
    protein_model = build_esm2(1, 16, 2, "protein", seed=0)
    pool = random_pool(4, 5, 10)
    with pytest.raises(InputError, match="the model is a protein model but the input is rna"):
        score_run(pool, (protein_model, protein_model.alphabet), tmp_path, progress=False)


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


# ------------------------------------------- killed at every rename (issue 15)

KILL_DRIVER = Path(__file__).resolve().parents[1] / "support" / "kill_at_rename.py"


def _run_files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill driver forks its scoring runs")
def test_a_run_killed_at_every_rename_resumes_to_a_complete_directory(tmp_path):
    """SIGKILL just before and just after every rename of a run directory (a chain of
    scoring processes, each resuming what the last left): every resumed directory is
    complete, clean and bit-identical to an uninterrupted run. Before, a kill between
    the fisher.pt and fisher_subset.txt renames lost fisher_subset.txt for good."""
    alphabet = rna_alphabet()
    model = save_model(build_esm2(1, 16, 2, alphabet, seed=0), alphabet, tmp_path / "model.pt")
    fasta = random_pool(50, 20, 40, seed=9).write_fasta(tmp_path / "pool.fa")
    plan = {
        "fasta": str(fasta),
        "model": str(model),
        "run_dir": str(tmp_path / "killed"),
        "reference": str(tmp_path / "reference"),
        "shard_size": 20,
        "fisher_subset": 10,
        "epochs": 1,
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(
        [sys.executable, str(KILL_DRIVER), str(tmp_path / "plan.json")],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "taking over the writer lock of process" in done.stderr  # the killed ones'
    assert "removed 1 temporary file(s) a stopped writer left" in done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    reference = tmp_path / "reference"
    expected = _run_files(reference) - {".lock"}
    every_rename = {(name, 1) for name in expected} | {("manifest.json", 2)}
    assert "fisher_subset.txt" in expected and "scores/part-00002.parquet" in expected
    want = ScoreTable.load(reference)
    for mode in ("before", "after"):
        chain = report[mode]["chain"]
        assert chain[:-1] == [-signal.SIGKILL] * (len(chain) - 1) and chain[-1] == 0
        assert report[mode]["last"] == 0
        assert {(k["file"], k["nth"]) for k in report[mode]["kills"]} == every_rename
        run_dir = tmp_path / "killed" / mode
        assert _run_files(run_dir) - {".lock"} == expected, mode  # nothing missing, no .tmp
        assert (run_dir / ".lock").read_bytes() == b""  # released
        assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"
        got = ScoreTable.load(run_dir)
        pd.testing.assert_frame_equal(got.frame, want.frame)
        np.testing.assert_array_equal(got.embeddings, want.embeddings)
        for name in ("fisher.pt", "fisher_subset.txt", "finetuned_model.pt"):
            assert (run_dir / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_resumed_run_rescores_a_garbled_shard_and_refuses_a_garbled_manifest(tmp_path, caplog):
    model, alphabet = build_esm2(1, 16, 2, rna_alphabet(), seed=0), rna_alphabet()
    pool = random_pool(30, 5, 20, seed=4)
    config = InfluenceConfig(shard_size=10)
    no_finetune = FinetuneSettings(epochs=0)

    def run(**options) -> ScoreTable:
        return score_run(pool, (model, alphabet), tmp_path, config,
                         finetune_settings=no_finetune, progress=False, **options)  # fmt: skip

    first = run()
    shard = tmp_path / "scores" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:100])
    (tmp_path / "fisher_subset.txt").unlink()
    with caplog.at_level("WARNING"):
        again = run()
    assert "part-00001.parquet is damaged (not a readable Parquet file); scoring it again" in (
        caplog.text
    )
    np.testing.assert_array_equal(again.scores, first.scores)
    assert (tmp_path / "fisher_subset.txt").exists()  # restored, as every missing file
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(RunDirectoryError, match=r"manifest.json: not valid JSON .*--overwrite"):
        run()
    np.testing.assert_array_equal(run(overwrite=True).scores, first.scores)
