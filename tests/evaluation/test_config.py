"""Evaluation settings: validation, documentation, subset and seed names."""

from __future__ import annotations

from pathlib import Path

import pytest

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation import EvaluationConfig, parse_seeds, parse_subsets


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pruning_rate": 1.0}, r"pruning_rate must be in \[0, 1\), got 1.0"),
        ({"hard_cutoff": -0.1}, r"hard_cutoff must be in \[0, 1\)"),
        ({"heldout_fraction": 0.0}, r"heldout_fraction must be in \(0, 1\)"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"checkpoints": 1.5}, "checkpoints must be an integer >= 1"),
        ({"budget": "flops"}, "budget must be 'epochs', 'steps' or 'tokens', got 'flops'"),
        ({"tokens": 0}, "tokens must be None or an integer >= 1"),
        ({"steps": 0}, "steps must be None or an integer >= 1, got 0"),
        ({"embed_dim": 30, "heads": 4}, r"embed_dim \(30\) must be a multiple of heads \(4\)"),
        ({"learning_rate": float("nan")}, "learning_rate must be > 0"),
        ({"tasks": "mlm,contacts"}, "tasks must be 'auto' or a list of mlm, structure"),
        ({"tasks": []}, "tasks must be 'auto' or a list"),
        ({"structure_source": ""}, "structure_source must be squarna, bprna, pool"),
        ({"clustering": "blast"}, "clustering must be 'auto', 'mmseqs' or 'kmer'"),
        ({"min_identity": 0}, r"min_identity must be in \(0, 1\]"),
        ({"device": "gpu"}, "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ({"keep_checkpoints": "some"}, "keep_checkpoints must be 'all', 'last' or 'none'"),
        ({"probe_train_sequences": 1}, "probe_train_sequences must be an integer >= 2"),
        ({"bprna": 3, "structure_source": "bprna"}, "bprna must be a file path or None"),
        ({"bprna": "b.csv.gz"}, "read only with structure_source 'bprna', not 'squarna'"),
    ],
)
def test_bad_settings_are_refused_with_a_message(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        EvaluationConfig(**changes)


def test_every_setting_is_documented() -> None:
    text = EvaluationConfig.help()
    for name in EvaluationConfig.__dataclass_fields__:
        assert f"{name} (default" in text
    assert EvaluationConfig(tasks="mlm, family").tasks == ["mlm", "family"]
    assert EvaluationConfig.from_dict(EvaluationConfig(epochs=3).to_dict()).epochs == 3
    assert "device" not in EvaluationConfig().result_key()


def test_the_bprna_path_is_kept_as_text_and_is_not_part_of_the_result() -> None:
    config = EvaluationConfig(structure_source="bprna", bprna=Path("data") / "bprna.csv.gz")
    assert config.bprna == str(Path("data") / "bprna.csv.gz")
    assert "bprna" not in config.result_key()  # where the file is, not what is computed
    assert config.result_key() == EvaluationConfig(structure_source="bprna").result_key()
    assert EvaluationConfig.from_dict(config.to_dict()) == config


def test_subset_and_seed_names() -> None:
    assert parse_subsets("cci, topi,cci,random10x") == ["cci", "topi", "random10x"]
    assert parse_seeds(3) == [0, 1, 2]
    assert parse_seeds([4, 4, 1]) == [4, 1]
    with pytest.raises(ConfigError, match="no subsets to evaluate"):
        parse_subsets(" , ")
    with pytest.raises(ConfigError, match="subset name '../x' must be letters"):
        parse_subsets(["../x"])
    with pytest.raises(ConfigError, match="the multiple must be >= 1"):
        parse_subsets("random0x")
    with pytest.raises(ConfigError, match="seeds must be >= 1, got 0"):
        parse_seeds(0)
    with pytest.raises(ConfigError, match="seeds must be a count >= 1 or a list of integers"):
        parse_seeds(["a"])
