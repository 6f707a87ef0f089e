"""``biocoreset models``: names, families, default targets and whether the weights are here."""

from __future__ import annotations

import argparse

import pytest

from biocoreset_viz.cli import models as models_command


@pytest.fixture(autouse=True)
def empty_caches(tmp_path, monkeypatch):
    """No weights of this machine's caches count: only the bundled models are present."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import torch

    monkeypatch.setattr(torch.hub, "_hub_dir", None)


def run(capsys, *argv: str) -> list[str]:
    parser = argparse.ArgumentParser(prog="biocoreset")
    models_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", *argv])
    assert args.run(args) == 0
    return capsys.readouterr().out.splitlines()


def test_models_lists_names_families_targets_and_presence(capsys):
    lines = run(capsys)
    assert lines[0].split() == ["name", "family", "molecule", "default", "target", "weights"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["demo-rna"] == ["demo-rna", "fair-esm", "rna", "lm_head.dense.weight", "present"]
    assert rows["sapiens-vh"][1:] == [
        "fairseq-roberta",
        "protein",
        "lm_head.dense.weight",
        "present",
    ]
    assert rows["esmc_300m"][1:] == ["esmc", "protein", "sequence_head.0.weight", "absent"]
    assert rows["esm2_t33_650M_UR50D"][-1] == "absent"
    assert rows["facebook/esm2_t6_8M_UR50D"][1] == "huggingface"


def test_models_present_lists_only_the_bundled_ones(capsys):
    names = [line.split()[0] for line in run(capsys, "--present")[1:]]
    assert names == ["demo-rna", "demo-protein", "sapiens-vh", "sapiens-vl"]


def test_models_where_says_where_absent_weights_must_go(capsys, tmp_path):
    lines = run(capsys, "--where")
    where = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines if ": " in line}
    assert where["sapiens-vh"].endswith("sapiens_vh.pt")
    assert (
        str(tmp_path / "hf" / "models--EvolutionaryScale--esmc-300m-2024-12") in where["esmc_300m"]
    )
    assert "put esm2_t6_8M_UR50D.pt at" in where["esm2_t6_8M_UR50D"]


def test_models_is_a_biocoreset_command(capsys):
    from biocoreset_viz.cli import main

    assert main(["models", "--present"]) == 0
    assert "sapiens-vh" in capsys.readouterr().out
