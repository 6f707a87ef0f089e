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
from biocoreset_viz.cli.demo import truncation_line
from biocoreset_viz.runs import ScoreTable


def run_demo(capsys, run_dir, *options: str) -> str:
    """``biocoreset demo OPTIONS --sample 8`` into ``run_dir``, not served; its output."""
    arguments = ["demo", *options, "--sample", "8", "--out", str(run_dir), "--no-serve", "--quiet"]
    assert main(arguments) == 0
    return capsys.readouterr().out


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
    out = run_demo(capsys, run_dir, "--dataset", "rna_structures")
    assert "records            485" in out
    assert "labels             structure, split" in out
    assert "nats on 8 sequences it was not trained on" in out
    assert "coreset            CCI, alpha 0.9, beta 0.1, k 50: 48 of 485 sequences" in out
    counts = ScoreTable.load(run_dir).manifest["counts"]
    assert truncation_line(ScoreTable.load(run_dir).manifest) in out
    assert f"{counts['truncated']:,} of 485 sequences were cut" in out or counts["truncated"] == 0
    table = ScoreTable.load(run_dir)
    assert len(table) == 485 and table.manifest["status"] == "complete"
    assert sorted(p.name for p in (run_dir / "selections").iterdir()) == [
        "cci-n48-b0.1-k50-seed0.json",
        "random-n48-seed0.json",
    ]


def test_demo_scores_the_antibody_germlines_with_the_pretrained_sapiens_model(capsys, tmp_path):
    """`biocoreset demo --model sapiens-vh`: a real pretrained model, a real dataset, the
    dashboard's store opened on the run (the server itself is tested above)."""
    run_dir = tmp_path / "run"
    out = run_demo(capsys, run_dir, "--model", "sapiens-vh")
    assert "dataset            antibody: 1,664 IMGT germline antibody V genes" in out
    assert "labels             gene, allele, chain, species" in out
    assert (
        "model              sapiens-vh: 568,857 parameters, pretrained, from sapiens 1.0.5" in out
    )
    match = re.search(r"masked-LM loss     ([\d.]+) nats on 8 .*unigram baseline ([\d.]+)\)", out)
    assert match, out
    assert "coreset            CCI, alpha 0.9, beta 0.1, k 50: 166 of 1,664 sequences" in out
    table = ScoreTable.load(run_dir)
    assert len(table) == 1664 and table.manifest["status"] == "complete"
    assert table.manifest["model"]["name"] == "sapiens-vh"
    assert table.manifest["model"]["family"] == "fairseq-roberta"
    assert table.manifest["targets"] == ["lm_head.dense.weight"]
    assert set(table.frame["species"]) >= {"human", "mouse", "alpaca"}
    assert table.embeddings.shape == (1664, 128)

    from biocoreset_viz.app.store import DataStore

    store = DataStore(run_dir, umap=False)
    assert store.n_total == 1664 and "sapiens-vh" in store.run_title()
    assert len(store.selection.indices) == 166


def test_demo_picks_the_dataset_a_model_is_made_for():
    from biocoreset_viz.datasets import demo_for_model

    assert demo_for_model("sapiens-vh") == "antibody"
    assert demo_for_model("demo-protein") == "proteome"
    assert demo_for_model("sapiens-vl") == "antibody"
    assert demo_for_model("esm2_t6_8M_UR50D") == "proteome"  # the first protein demo
    assert demo_for_model("rna_fm_t12") == "rna"


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


def test_demo_says_how_many_sequences_the_model_window_cut():
    manifest = {"counts": {"scored": 4_223, "truncated": 1_488}, "max_length": 128}
    assert truncation_line(manifest) == (
        "truncated          1,488 of 4,223 sequences were cut to the model's 128-residue "
        "window (the rest of each is not scored)"
    )
    manifest["counts"]["truncated"] = 0
    assert "none: every sequence fits the model's 128-residue window" in truncation_line(manifest)
