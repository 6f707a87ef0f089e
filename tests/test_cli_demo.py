"""`biocoreset demo`: demo data statistics, the demo model and its held-out loss."""

from __future__ import annotations

import re

import pytest

from biocoreset_viz.cli import main


@pytest.mark.parametrize(
    ("dataset", "records", "model"),
    [("rna", "4,223", "demo-rna"), ("proteome", "2,100", "demo-protein")],
)
def test_demo_prints_statistics_model_and_loss(capsys, dataset, records, model):
    assert main(["demo", "--dataset", dataset, "--sample", "16"]) == 0
    out = capsys.readouterr().out
    assert f"records            {records}" in out
    assert f"model              {model}: " in out
    match = re.search(r"masked-LM loss     ([\d.]+) nats on 16 .*unigram baseline ([\d.]+)\)", out)
    assert match, out
    loss, baseline = map(float, match.groups())
    assert 0 < loss < 2 * baseline


def test_demo_on_a_dataset_the_model_never_saw(capsys):
    assert main(["demo", "--dataset", "rna_structures", "--sample", "8"]) == 0
    out = capsys.readouterr().out
    assert "records            485" in out
    assert "labels             structure, split" in out
    assert "nats on 8 sequences it was not trained on" in out


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
