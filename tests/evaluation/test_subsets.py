"""The subsets pretrained on: sizes, seeds, selector parameters, saved selections, aliases."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from support.evaluation_runs import write_run

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation import (
    EvaluationConfig,
    draw_subset,
    draw_subsets,
    epoch_tokens,
    planned_steps,
)
from biocoreset_viz.runs import ScoreTable


def _pool():
    rng = np.random.default_rng(0)
    scores = rng.lognormal(size=500)
    pretrain = np.sort(rng.choice(500, 400, replace=False))
    return scores, pretrain


def test_subsets_have_the_promised_sizes_and_seeds_matter() -> None:
    scores, pretrain = _pool()
    config = EvaluationConfig(pruning_rate=0.9, n_strata=10)

    def draw(name: str, seed: int = 0):
        return draw_subset(name, seed, scores=scores, pretrain=pretrain, config=config)

    assert np.array_equal(draw("full").indices, pretrain)
    for name in ("cci", "topi", "random"):
        subset = draw(name)
        assert len(subset.indices) == 40
        assert np.isin(subset.indices, pretrain).all()
    top = draw("topi").indices
    assert scores[top].min() >= np.sort(scores[pretrain])[-40]
    assert np.array_equal(top, draw("topi", seed=5).indices)
    assert not np.array_equal(draw("cci").indices, draw("cci", seed=1).indices)
    assert not np.array_equal(draw("random").indices, draw("random", seed=1).indices)
    assert len(draw("random5x").indices) == 200
    assert np.array_equal(draw("random10x").indices, pretrain)  # capped at the pool
    with pytest.raises(ConfigError, match="unknown subset 'best'"):
        draw("best")


def test_each_subset_records_only_the_parameters_its_selector_takes() -> None:
    scores, pretrain = _pool()
    config = EvaluationConfig(pruning_rate=0.9, hard_cutoff=0.2, n_strata=10)

    def params(name: str, seed: int = 3) -> dict:
        return draw_subset(name, seed, scores=scores, pretrain=pretrain, config=config).params

    assert params("cci") == {"n_select": 40, "random_state": 3, "hard_cutoff": 0.2, "n_strata": 10}
    assert list(params("cci")) == ["n_select", "random_state", "hard_cutoff", "n_strata"]
    assert params("topi") == params("bottomi") == {"n_select": 40}
    assert params("random") == {"n_select": 40, "random_state": 3}
    assert params("random5x") == {"n_select": 200, "random_state": 3}
    assert params("full") == {}


def test_a_saved_selection_is_restricted_to_the_pretraining_pool(tmp_path) -> None:
    from biocoreset_viz.selection import select_from_run

    run_dir = write_run(tmp_path, n=60)
    select_from_run(run_dir, "topi", name="mine", n_select=20)
    scores = ScoreTable.load(run_dir).scores
    pretrain = np.arange(0, 60, 2)
    subset = draw_subset(
        "mine", 0, scores=scores, pretrain=pretrain, config=EvaluationConfig(), run_dir=run_dir
    )
    assert np.isin(subset.indices, pretrain).all()
    assert len(subset.indices) + subset.params["dropped"] == 20
    with pytest.raises(ConfigError, match="was made on a pool of 60, not this run's 61"):
        draw_subset(
            "mine",
            0,
            scores=np.append(scores, 1.0),
            pretrain=pretrain,
            config=EvaluationConfig(),
            run_dir=run_dir,
        )


def test_equal_subsets_of_a_seed_are_aliases_of_the_first_drawn() -> None:
    scores, pretrain = _pool()
    config = EvaluationConfig(pruning_rate=0.9, n_strata=10)
    draw = partial(draw_subset, scores=scores, pretrain=pretrain, config=config)
    draws = draw_subsets(["random10x", "cci", "full"], [0, 1], draw)
    assert [(d.subset, d.seed) for d in draws] == [
        (name, seed) for seed in (0, 1) for name in ("random10x", "cci", "full")
    ]
    # the full pool is drawn first, so random10x (all of the pool) is its alias
    assert {d.subset: d.alias_of for d in draws} == {"random10x": "full", "cci": None, "full": None}
    empty = partial(draw_subset, scores=scores, pretrain=pretrain[:5], config=config)
    with pytest.raises(ConfigError, match="subset 'topi' has no sequence in the pretraining pool"):
        draw_subsets(["topi"], [0], empty)


def test_planned_steps_follow_the_token_budget() -> None:
    config = EvaluationConfig(max_length=10, max_tokens=24)
    # each sequence is capped at 10 residues + 2 special tokens: two fit in 24 tokens
    assert planned_steps(np.array([50, 50, 50, 50]), config) == 2
    assert planned_steps(np.array([3]), config) == 1


def test_one_pass_counts_the_residues_kept_and_two_special_tokens() -> None:
    config = EvaluationConfig(max_length=10)
    assert epoch_tokens(np.array([50, 3, 10]), config) == 12 + 5 + 12


def test_a_selector_can_rank_by_another_score_variant() -> None:
    """``cci-length_adjusted`` is CCI on the length-adjusted self-influence, ``topi-loss``
    Top-I on the loss: their own subsets, with the score recorded."""
    import pandas as pd

    from biocoreset_viz.score_variants import score_values

    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 300, 500)
    scores = np.exp(-np.log(lengths) + 0.3 * rng.normal(size=500))
    frame = pd.DataFrame({"length": lengths, "self_influence": scores, "loss": rng.random(500)})
    pretrain = np.sort(rng.choice(500, 400, replace=False))
    config = EvaluationConfig(pruning_rate=0.9, n_strata=10)
    draw = partial(draw_subset, scores=scores, pretrain=pretrain, config=config, score_frame=frame)
    topi = draw("topi", 0)
    adjusted = draw("topi-length_adjusted", 0)
    assert adjusted.method == "topi" and adjusted.params == {
        "n_select": 40,
        "score": "length_adjusted",
    }
    expected = score_values(frame, "length_adjusted")[pretrain]
    assert np.array_equal(adjusted.indices, np.sort(pretrain[np.argsort(-expected)[:40]]))
    # plain Top-I takes the shortest sequences; the adjusted one does not
    assert lengths[topi.indices].mean() < 60 < lengths[adjusted.indices].mean()
    loss = draw("topi-loss", 0).indices
    assert np.array_equal(
        loss, np.sort(pretrain[np.argsort(-frame["loss"].to_numpy()[pretrain])[:40]])
    )
    assert draw("cci-length_adjusted", 1).params["score"] == "length_adjusted"
    with pytest.raises(ConfigError, match="needs the column.*gradient_norm"):
        draw("cci-gradient_norm", 0)
    with pytest.raises(ConfigError, match="give the run's score table"):
        draw_subset("cci-loss", 0, scores=scores, pretrain=pretrain, config=config)
