"""``biocoreset evaluate``: options, one-line errors, a tiny run, resuming after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.cli import main
from biocoreset_viz.runs import ScoreTable

TINY_OPTIONS = [
    "--layers", "1", "--dim", "16", "--heads", "2", "--epochs", "2", "--checkpoints", "2",
    "--max-length", "48", "--max-tokens", "1024", "--lr", "5e-3", "--tasks", "mlm",
    "--clustering", "kmer", "--heldout-fraction", "0.2", "--keep-checkpoints", "none",
    "--threads", "1",
]  # fmt: skip


@pytest.fixture(autouse=True)
def restore_torch_threads():
    """``--threads`` sets torch's threads for the process; give the rest of the session its own."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def write_run(folder: Path, n: int = 120) -> Path:
    """A run directory over a FASTA of ``n`` RNAs in 30 families of near-copies."""
    rng = np.random.default_rng(0)
    bases = ["".join(rng.choice(list("ACGU"), int(rng.integers(30, 60)))) for _ in range(30)]
    sequences = []
    for i in range(n):
        letters = list(bases[i % 30])
        letters[int(rng.integers(len(letters)))] = rng.choice(list("ACGU"))
        sequences.append("".join(letters))
    ids = [f"rna{i:03d}" for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    fasta = folder / "pool.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences, strict=True)))
    frame = pd.DataFrame(
        {
            "index": np.arange(n, dtype=np.int64),
            "id": ids,
            "length": [len(s) for s in sequences],
            "truncated": np.zeros(n, dtype=bool),
            "loss": rng.random(n),
            "self_influence": rng.lognormal(size=n),
        }
    )
    run_dir = folder / "run"
    ScoreTable(frame, None, {"molecule": "rna", "input": {"path": str(fasta)}}).save(run_dir)
    return run_dir


def test_help_lists_the_options(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for option in ("--selections", "--seeds", "--pruning-rate", "--budget", "--epochs", "--steps",
                   "--tokens", "--layers", "--tasks", "--structure-source", "--bprna", "--demo",
                   "--overwrite"):  # fmt: skip
        assert option in text


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give either RUN_DIR or --demo"),
        (["RUN", "--demo"], "give either RUN_DIR or --demo"),
        (["{run}", "--pruning-rate", "1.5"], r"pruning_rate must be in [0, 1), got 1.5"),
        (["{run}", "--epochs", "0"], "epochs must be an integer >= 1, got 0"),
        (["{run}", "--threads", "0"], "--threads must be >= 1, got 0"),
        (["{run}", "--selections", "cci,best", *TINY_OPTIONS], "unknown subset 'best'"),
        (["{missing}"], "not a run directory"),
        (["{run}", "--bprna", "{missing}"], "read only with structure_source 'bprna'"),
        (
            [
                "{run}",
                "--tasks",
                "structure",
                "--structure-source",
                "bprna",
                "--bprna",
                "{missing}",
            ],
            "no such file: the bpRNA-derived structure set (bprna.csv.gz)",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, arguments, message) -> None:
    run_dir = write_run(tmp_path)
    arguments = [a.format(run=run_dir, missing=tmp_path / "nowhere") for a in arguments]
    assert main(["evaluate", *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("biocoreset evaluate: error:")
    assert message in error
    assert "\n" not in error


def test_bad_seeds_are_an_argument_error(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", "RUN", "--seeds", "two"])
    assert stop.value.code == 2
    assert "expected a count or a comma-separated list" in capsys.readouterr().err


def test_a_tiny_evaluation_prints_its_table_and_resumes(tmp_path, capsys) -> None:
    run_dir = write_run(tmp_path, n=80)
    arguments = ["evaluate", str(run_dir), "--selections", "cci,full", "--seeds", "0,1"]
    assert main([*arguments, *TINY_OPTIONS, "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert first.count("finished ") == 4
    assert "| cci | 2 |" in first and "mlm perplexity ↓" in first
    # the paired comparison of the two, with its interval and verdict
    assert "Paired comparisons" in first
    (row,) = [line for line in first.splitlines() if line.startswith("| cci | full |")]
    assert row.count("[") == 1 and row.rstrip(" |").split("| ")[-1] in (
        "better", "worse", "no detectable difference"
    )  # fmt: skip
    assert "floor: mlm perplexity" in first
    curves = pd.read_parquet(run_dir / "evaluation" / "curves.parquet")
    assert set(curves["subset"]) == {"cci", "full"}
    assert set(curves["seed"]) == {0, 1}
    # the same command again: nothing is retrained, the same table comes back
    assert main([*arguments, *TINY_OPTIONS, "--no-progress"]) == 0
    second = capsys.readouterr().out
    assert "finished " not in second
    table = [line for line in first.splitlines() if line.startswith("|")]
    assert table == [line for line in second.splitlines() if line.startswith("|")]


def test_one_seed_under_equal_tokens_prints_no_spread_not_plus_minus_zero(tmp_path, capsys):
    run_dir = write_run(tmp_path, n=80)
    arguments = ["evaluate", str(run_dir), "--selections", "topi,random,full", "--seeds", "1"]
    assert main([*arguments, *TINY_OPTIONS, "--budget", "tokens", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "n = 1, no spread" in out and "± 0.000" not in out
    assert "budget: equal tokens" in out
    curves = pd.read_parquet(run_dir / "evaluation" / "curves.parquet")
    assert set(curves["budget"]) == {"tokens"}
    last = curves.groupby("subset")["tokens_seen"].max()
    assert last.max() - last.min() < 1024  # the same tokens, to within one batch


@pytest.mark.slow
def test_killing_the_process_loses_only_the_running_subset(tmp_path) -> None:
    run_dir = write_run(tmp_path, n=300)
    command = [
        sys.executable, "-m", "biocoreset_viz", "evaluate", str(run_dir),
        "--selections", "random,full", "--seeds", "1", "--no-progress", *TINY_OPTIONS,
        "--epochs", "30",
    ]  # fmt: skip
    parts = run_dir / "evaluation" / "parts"
    first = parts / "random" / "seed-0" / "result.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not first.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert first.exists(), "the first (subset, seed) did not finish in time"
        time.sleep(1.0)  # into the second one
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert not (parts / "full" / "seed-0" / "result.json").exists()
    stamp = first.stat().st_mtime_ns
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert first.stat().st_mtime_ns == stamp
    assert (parts / "full" / "seed-0" / "result.json").exists()
    curves = pd.read_parquet(run_dir / "evaluation" / "curves.parquet")
    assert set(curves["subset"]) == {"random", "full"}
