"""`biocoreset score`: options made from the settings, resumable after a kill, one-line errors."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from support.distributed import write_pool_files
from support.influence import random_pool

from biocoreset_viz.cli import build_parser, main
from biocoreset_viz.cli.score import config_from_args
from biocoreset_viz.influence import InfluenceConfig, RuntimeOptions, ScoreSettings
from biocoreset_viz.models import build_esm2, rna_alphabet, save_model
from biocoreset_viz.runs import ScoreTable, shard_paths


def parse(*options: str):
    return build_parser().parse_args(["score", "in.fa", "--model", "m", "--out", "run", *options])


def test_every_setting_is_an_option_with_the_settings_default():
    assert config_from_args(parse()) == InfluenceConfig()
    config = config_from_args(
        parse("--damping", "1e-6", "--damping-mode", "relative", "--target", "lm_head,last_block",
              "--fisher-subset", "2000", "--mask-prob", "0.2", "--max-length", "100",
              "--packing", "--device", "cpu", "--shard-size", "64")
    )  # fmt: skip
    assert config.score_settings == ScoreSettings(
        damping=1e-6,
        damping_mode="relative",
        target=["lm_head", "last_block"],
        fisher_subset=2000,
        mask_prob=0.2,
        max_length=100,
    )
    assert config.runtime == RuntimeOptions(packing=True, device="cpu", shard_size=64)
    assert config_from_args(parse("--fisher-subset", "0.25")).fisher_subset == 0.25


def test_a_bad_setting_exits_2_with_one_line(capsys):
    assert main(["score", "in.fa", "--model", "m", "--out", "run", "--damping", "-1"]) == 2
    error = capsys.readouterr().err
    assert error == "biocoreset score: error: damping must be finite and >= 0, got -1.0\n"


@pytest.fixture(scope="module")
def pool_files(tmp_path_factory):
    return write_pool_files(tmp_path_factory.mktemp("pool"))


def test_local_engine_refuses_several_inputs(pool_files, tmp_path, capsys):
    arguments = [str(p) for p in pool_files["sharded"]]
    status = main(
        ["score", *arguments, "--model", str(pool_files["model"]), "--out", str(tmp_path)]
    )
    assert status == 2
    assert "use --engine ray for sharded input" in capsys.readouterr().err


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


# ------------------------------------------- one writer, a full disk (issue 15)


@pytest.fixture
def small_job(tmp_path):
    """A tiny checkpoint and 60 RNAs: ``score`` arguments for a run in RUN_DIR (3 shards)."""
    alphabet = rna_alphabet()
    checkpoint = save_model(build_esm2(1, 16, 2, alphabet, seed=0), alphabet, tmp_path / "m.pt")
    fasta = random_pool(60, 20, 40, seed=3).write_fasta(tmp_path / "pool.fa")

    def arguments(run_dir: Path, *extra: str) -> list[str]:
        return ["score", str(fasta), "--model", str(checkpoint), "--out", str(run_dir),
                "--shard-size", "20", "--finetune-epochs", "0", "--fisher-subset", "10",
                "--device", "cpu", "--quiet", *extra]  # fmt: skip

    return arguments


def test_a_second_scorer_on_the_same_run_exits_2_naming_the_first(small_job, tmp_path, capsys):
    """Scorer B (another damping, --overwrite) while scorer A holds the run: before, both
    exited 0 and the 'complete' manifest of A described shards B had written."""
    from support.runs import holder

    run_dir = tmp_path / "run"
    first = holder(run_dir)  # scorer A, holding the run's writer lock
    try:
        status = main(small_job(run_dir, "--damping", "1e-4", "--overwrite"))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1
    assert error.startswith(f"biocoreset score: error: {run_dir} is being written by process ")
    assert f"process {first.pid} on " in error
    assert not (run_dir / "scores").exists()  # B wrote nothing


def test_a_full_disk_while_scoring_is_one_line_and_the_run_resumes(
    small_job, tmp_path, capsys, monkeypatch
):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("finds the file being written through /proc/self/fd (Linux)")
    run_dir = tmp_path / "run"
    real_fsync = os.fsync

    def full_at_the_third_shard(fd: int) -> None:  # the disk fills up while writing shard 2
        if "part-00002.parquet" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_at_the_third_shard)
    assert main(small_job(run_dir)) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1  # was an OSError traceback
    assert "the disk is full (No space left on device while writing " in error
    assert "part-00002.parquet); what was written is safe (2 of 3 score shards done" in error
    assert "rerun the same command to resume" in error
    assert not list((run_dir / "scores").glob(".*.tmp"))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert main(small_job(run_dir)) == 0
    assert main(small_job(tmp_path / "straight")) == 0
    np.testing.assert_array_equal(
        ScoreTable.load(run_dir).scores, ScoreTable.load(tmp_path / "straight").scores
    )


def test_collapse_duplicates_scores_one_copy_of_each(small_job, tmp_path, capsys):
    """`biocoreset info` points to this option when a file has exact duplicates."""
    source = Path(small_job(tmp_path / "unused")[1])
    fasta = tmp_path / "with-copies.fa"
    fasta.write_text(
        source.read_text() + ">copy-a\nACGUACGUACGUACGUACGU\n>copy-b\nACGUACGUACGUACGUACGU\n"
    )
    arguments = small_job(tmp_path / "run", "--collapse-duplicates")
    arguments[1] = str(fasta)
    assert main(arguments) == 0
    out = capsys.readouterr().out
    table = ScoreTable.load(tmp_path / "run")
    assert "copy-a" in set(table.ids) and "copy-b" not in set(table.ids)
    assert "collapsed" in out and f"scoring {len(table):,} distinct sequences" in out
    assert main(["info", str(fasta)]) == 0
    assert "`biocoreset score --collapse-duplicates` scores one copy" in capsys.readouterr().out
