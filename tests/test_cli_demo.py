"""`biocoreset demo`: statistics, the demo model's held-out loss, scoring, a coreset, the dashboard."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from biocoreset_viz.cli import main
from biocoreset_viz.runs import ScoreTable


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("dataset", "records", "model"),
    [("rna", "4,223", "demo-rna"), ("proteome", "2,100", "demo-protein")],
)
def test_demo_model_report_beats_nothing_silly(capsys, dataset, records, model):
    from biocoreset_viz.cli.demo import report_model
    from biocoreset_viz.datasets import load_demo

    sequences = load_demo(dataset)
    assert f"{len(sequences):,}" == records
    report_model(model, sequences, dataset, sample_size=16, seed=0)
    out = capsys.readouterr().out
    assert f"model              {model}: " in out
    match = re.search(r"masked-LM loss     ([\d.]+) nats on 16 .*unigram baseline ([\d.]+)\)", out)
    assert match, out
    loss, baseline = map(float, match.groups())
    assert 0 < loss < 2 * baseline


def test_demo_scores_and_selects_on_a_dataset_the_model_never_saw(capsys, tmp_path):
    run_dir = tmp_path / "run"
    arguments = ["demo", "--dataset", "rna_structures", "--sample", "8", "--out", str(run_dir)]
    assert main([*arguments, "--no-serve", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "records            485" in out
    assert "labels             structure, split" in out
    assert "nats on 8 sequences it was not trained on" in out
    assert "coreset            CCI, alpha 0.9, beta 0.1, k 50: 48 of 485 sequences" in out
    table = ScoreTable.load(run_dir)
    assert len(table) == 485 and table.manifest["status"] == "complete"
    assert sorted(p.name for p in (run_dir / "selections").iterdir()) == [
        "cci-n48-b0.1-k50-seed0.json",
        "random-n48-seed0.json",
    ]


def test_demo_serves_the_dashboard_on_its_run(tmp_path):
    """The README's main command, end to end: score, select, then the page answers."""
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "biocoreset_viz", "demo", "--dataset", "rna_structures",
         "--out", str(tmp_path / "run"), "--port", str(port), "--quiet", "--sample", "8"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        page = ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert process.poll() is None, (tmp_path / "demo.log").read_text()
        assert "<html" in page.lower() and "bokeh" in page.lower()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert ScoreTable.exists(tmp_path / "run")


def test_demo_rejects_an_unknown_dataset(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["demo", "--dataset", "genome"])
    assert raised.value.code == 2
    assert "invalid choice: 'genome'" in capsys.readouterr().err


def test_demo_rejects_a_zero_sample(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--sample", "0"])
    assert "must be at least 1, got 0" in capsys.readouterr().err


def test_demo_choices_match_the_datasets_module():
    from biocoreset_viz.cli.demo import DATASETS
    from biocoreset_viz.datasets import available_demos

    assert tuple(available_demos()) == DATASETS
