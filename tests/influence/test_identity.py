"""A score's identity: its settings (precision included) and layout, not how it ran;
run directories recorded before the settings split resume."""

from __future__ import annotations

import numpy as np
import pytest
from support.influence import fit_and_score, rna_pool

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.influence import (
    DiagonalFisher,
    InfluenceConfig,
    model_fingerprint,
    plan_scoring,
    score,
    score_run,
)
from biocoreset_viz.influence.identity import score_identity
from biocoreset_viz.models import build_esm2, rna_alphabet
from biocoreset_viz.runs import ScoreTable, read_json, shard_paths, write_json


def test_precision_is_part_of_the_run_identity_packing_is_not(tmp_path):
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    sequences = rna_pool(10, 5, 20)
    full = InfluenceConfig(fisher_subset=5, device="cpu", shard_size=4)
    assert "precision" not in full.score_key()  # older run directories keep their identity
    fisher, _ = fit_and_score(model, sequences, full, tmp_path)
    packed = InfluenceConfig(**{**full.to_dict(), "packing": True, "max_tokens": 64})
    score(model, fisher, sequences, packed, tmp_path, alphabet=rna_alphabet(), progress=False)
    bf16 = InfluenceConfig(**{**full.to_dict(), "precision": "bf16"})
    with pytest.raises(RunDirectoryError, match="different score"):
        score(model, fisher, sequences, bf16, tmp_path, alphabet=rna_alphabet(), progress=False)


def test_configs_that_differ_only_in_runtime_options_have_one_identity(tmp_path):
    model, alphabet = build_esm2(1, 16, 2, rna_alphabet(), seed=0), rna_alphabet()
    sequences = rna_pool(10, 5, 20)
    base = InfluenceConfig(fisher_subset=5, device="cpu")
    fisher, table = fit_and_score(model, sequences, base, tmp_path)

    def identity(**changes) -> dict:
        config = InfluenceConfig(**{**base.to_dict(), **changes})
        return score_identity(plan_scoring(model, sequences, config, alphabet=alphabet), fisher)

    assert table.manifest["identity"] == identity()
    # every setting, the default loss reduction ('mean') left out as runs made before it
    recorded = {k: v for k, v in base.score_settings.to_dict().items() if k != "reduction"}
    assert table.manifest["identity"]["score_settings"] == recorded
    assert table.manifest["identity"]["layout"] == {"shard_size": 4096}
    assert identity(device="auto", max_tokens=50, packing=True, compile=True) == identity()
    settings = [
        ("damping", 1e-6),
        ("dtype", "float64"),
        ("target", "lm_head"),
        ("reduction", "sum"),
    ]
    for setting, value in settings:
        changed = identity(**{setting: value})
        assert changed["score_settings"][setting] == value and changed != identity()
    assert identity(shard_size=3)["layout"] == {"shard_size": 3}  # a layout, not a setting
    assert identity(shard_size=3)["score_settings"] == identity()["score_settings"]


def test_a_run_directory_made_before_the_settings_split_resumes_with_its_identity(tmp_path):
    """Older versions recorded the settings and the shard size as "score_config" and
    fingerprinted the Fisher stage's base model in its own dtype."""
    alphabet, pool = rna_alphabet(), rna_pool(12, 5, 20)
    config = InfluenceConfig(fisher_subset=4, shard_size=4, dtype="float64")

    def run(config: InfluenceConfig) -> ScoreTable:
        model = build_esm2(1, 16, 2, alphabet, seed=0)  # float32, scored in float64
        return score_run(pool, (model, alphabet), tmp_path, config, progress=False)

    first = run(config)
    manifest = read_json(tmp_path / "manifest.json")
    new = manifest["identity"]
    legacy = {
        "model_sha256": new["model_sha256"],
        "fisher_sha256": new["fisher_sha256"],
        "input_sha256": new["input_sha256"],
        "score_config": config.score_key(),
    }
    write_json(tmp_path / "manifest.json", {**manifest, "identity": legacy})
    fisher = DiagonalFisher.load(tmp_path / "fisher.pt")
    stage = fisher.metadata["stage_identity"]
    fisher.metadata["stage_identity"] = {
        "base_model_sha256": model_fingerprint(build_esm2(1, 16, 2, alphabet, seed=0)),
        "input_sha256": stage["input_sha256"],
        "score_config": config.score_key(),
        "finetune": stage["finetune"],
    }
    fisher.save(tmp_path / "fisher.pt")
    shard_paths(tmp_path)[1].unlink()

    resumed = run(config)
    assert resumed.manifest["identity"] == legacy  # kept as recorded: caches keyed on it hold
    np.testing.assert_array_equal(resumed.scores, first.scores)
    with pytest.raises(RunDirectoryError, match="different model, input, config or fine-tune"):
        run(InfluenceConfig(**{**config.to_dict(), "damping": 1e-6}))
