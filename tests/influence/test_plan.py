"""The scoring plan: every check made once, up front, before any model work."""

from __future__ import annotations

import pytest
import torch
from support.influence import random_pool, tiny_esm1b, tiny_esm2

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.influence import (
    InfluenceConfig,
    RuntimeOptions,
    ScoreSettings,
    fit_fisher,
    input_fingerprint,
    model_fingerprint,
    pipeline,
    plan_scoring,
    prepare_model,
    score_run,
)
from biocoreset_viz.models import build_esm2, rna_alphabet
from biocoreset_viz.sequences import SequenceSet


def test_empty_input(tmp_path):
    model = tiny_esm2()
    empty = SequenceSet([], [], "rna")
    with pytest.raises(InputError, match="no sequences to score"):
        fit_fisher(model, empty, InfluenceConfig(), alphabet=rna_alphabet(), progress=False)


def test_max_length_beyond_the_model_limit():
    model = tiny_esm1b()  # 128 positions: 126 residues
    pool = random_pool(3, 5, 10)
    with pytest.raises(ConfigError, match="exceeds the model's limit of 126 residues"):
        fit_fisher(
            model, pool, InfluenceConfig(max_length=500), alphabet=rna_alphabet(), progress=False
        )


def test_the_plan_resolves_the_score_once():
    model = tiny_esm2()
    pool = SequenceSet.from_sequences(["ACGU" * 10, "ACG", "GGCCA" * 4], molecule="rna")
    config = InfluenceConfig(
        target=["layers.1.fc2.weight", "lm_head.dense.weight"], max_length=12, device="cpu"
    )
    plan = plan_scoring(model, pool, config, alphabet=rna_alphabet())
    assert plan.settings == config.score_settings and plan.runtime == config.runtime
    assert plan.targets == ("layers.1.fc2.weight", "lm_head.dense.weight")  # model order
    assert (plan.max_length, plan.count, plan.truncated) == (12, 3, 2)
    assert plan.device == torch.device("cpu") and plan.dtype == torch.float32
    assert plan.molecule == "rna"
    assert plan.input_record == {"path": None, "count": 3, "sha256": input_fingerprint(pool)}
    assert plan.model_record == {"architecture": "esm2", "layers": 2, "embed_dim": 16}
    # The fingerprint of the model as scored (cast to float32), without casting it:
    assert next(model.parameters()).dtype == torch.float64
    prepare_model(model, plan)
    assert plan.model_sha256 == model_fingerprint(model)
    assert plan.config() == config


def test_settings_and_runtime_options_make_a_plan_as_an_influence_config_does():
    model, pool, alphabet = tiny_esm2(), random_pool(5, 3, 20), rna_alphabet()
    settings, runtime = ScoreSettings(dtype="float64"), RuntimeOptions(device="cpu")
    from_parts = plan_scoring(model, pool, settings, runtime=runtime, alphabet=alphabet)
    joined = InfluenceConfig.from_parts(settings, runtime)
    assert from_parts == plan_scoring(model, pool, joined, alphabet=alphabet)
    with pytest.raises(ConfigError, match="carries its runtime options"):
        plan_scoring(model, pool, joined, runtime=runtime, alphabet=alphabet)
    with pytest.raises(ConfigError, match="packing removes padding"):
        plan_scoring(
            model,
            pool,
            ScoreSettings(reference_padding=True),
            runtime=RuntimeOptions(packing=True),
            alphabet=alphabet,
        )


@pytest.mark.parametrize(
    ("pool", "config", "error", "message"),
    [
        (random_pool(3, 5, 10), {"target": "lm_head.dense.weights"}, ConfigError, "unknown target"),
        (
            random_pool(3, 5, 10),
            {"target": "last_block", "precision": "bf16"},
            ConfigError,
            "use precision='full'",
        ),
        (
            SequenceSet.from_sequences(["ACGU", "ACGUACGUACGU"], ids=["a", "b"], molecule="rna"),
            {"max_length": 8, "truncation": "error"},
            InputError,
            r"1 sequences exceed max_length 8 .*\(record 'b'\)",
        ),
        (
            random_pool(3, 5, 10, letters="ACDEFGHIK"),
            {},
            InputError,
            "the model is a rna model but the input is protein",
        ),
        (SequenceSet([], [], "rna"), {}, InputError, "no sequences to score"),
    ],
    ids=["target", "precision", "truncation", "molecule", "empty"],
)
def test_a_bad_score_is_refused_before_any_model_work(
    tmp_path, monkeypatch, pool, config, error, message
):
    def no_model_work(*args, **kwargs):
        raise AssertionError("the model was used before the settings were checked")

    monkeypatch.setattr(pipeline, "finetune", no_model_work)
    monkeypatch.setattr(pipeline, "accumulate_fisher", no_model_work)
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    with pytest.raises(error, match=message):
        plan_scoring(model, pool, InfluenceConfig(**config), alphabet=rna_alphabet())
    with pytest.raises(error, match=message):
        score_run(
            pool, (model, rna_alphabet()), tmp_path, InfluenceConfig(**config), progress=False
        )
