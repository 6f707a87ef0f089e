"""The settings: the score settings apart from the runtime options, each field validated
with a message naming it, and documented once."""

from __future__ import annotations

import dataclasses

import pytest

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.influence import InfluenceConfig, RuntimeOptions, ScoreSettings


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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"precision": "fp16"}, "precision must be"),
        ({"precision": "bf16", "dtype": "float64"}, "use dtype='float32'"),
        ({"packing": 1}, "packing must be True or False"),
        ({"compile": "yes"}, "compile must be True or False"),
        ({"packing": True, "reference_padding": True}, "packing removes padding"),
    ],
)
def test_fast_path_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        InfluenceConfig(**values)


def test_the_config_is_the_score_settings_and_the_runtime_options():
    config = InfluenceConfig(
        damping=1e-6, precision="bf16", device="cpu", max_tokens=100, packing=True
    )
    assert config.score_settings == ScoreSettings(damping=1e-6, precision="bf16")
    assert config.runtime == RuntimeOptions(device="cpu", max_tokens=100, packing=True)
    assert InfluenceConfig.from_parts(config.score_settings, config.runtime) == config
    settings = {f.name for f in dataclasses.fields(ScoreSettings)}
    runtime = {f.name for f in dataclasses.fields(RuntimeOptions)}
    assert not settings & runtime
    assert {f.name for f in dataclasses.fields(InfluenceConfig)} == settings | runtime
    for part in (ScoreSettings, RuntimeOptions):  # defaults and help defined once, in the part
        for item in dataclasses.fields(part):
            joined = InfluenceConfig.__dataclass_fields__[item.name]
            assert (joined.default, joined.metadata) == (item.default, item.metadata)
            assert f"\n{item.name} (default" in f"\n{part.help()}"


def test_the_parts_validate_their_own_fields():
    with pytest.raises(ConfigError, match="damping must be"):
        ScoreSettings(damping=-1.0)
    with pytest.raises(ConfigError, match="use dtype='float32'"):
        ScoreSettings(precision="bf16", dtype="float64")
    with pytest.raises(ConfigError, match="device must be"):
        RuntimeOptions(device="gpu")
    with pytest.raises(ConfigError, match="shard_size must be"):
        RuntimeOptions(shard_size=0)
    assert ScoreSettings(target=("lm_head", "last_block")).target == ["lm_head", "last_block"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ScoreSettings().damping = 1.0  # type: ignore[misc]
