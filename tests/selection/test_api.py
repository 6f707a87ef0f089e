"""Selecting by method name: make_selector and select_from_run over a run directory."""

from __future__ import annotations

import numpy as np
import pytest
from support.selection import (
    make_run,
)

from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.selection import (
    CoverageCentric,
    Selection,
    TopInfluence,
    align_sequences,
    list_selections,
    make_selector,
    select_from_run,
)


def test_make_selector_checks_method_and_parameters() -> None:
    assert isinstance(make_selector("topi", pruning_rate=0.5, hard_cutoff=None), TopInfluence)
    with pytest.raises(ValueError, match="method must be one of"):
        make_selector("best")
    with pytest.raises(ValueError, match="takes no parameter hard_cutoff"):
        make_selector("topi", pruning_rate=0.5, hard_cutoff=0.1)


def test_select_from_run_saves_the_selection(tmp_path) -> None:
    run_dir, frame = make_run(tmp_path)
    selection = select_from_run(run_dir, "cci", pruning_rate=0.5, random_state=3)
    expected = CoverageCentric(pruning_rate=0.5, random_state=3).fit_select(
        frame["self_influence"].to_numpy()
    )
    np.testing.assert_array_equal(selection.indices, expected)
    assert list(selection.ids) == [f"s{i}" for i in expected]
    assert selection.source_run == str(run_dir)
    assert Selection.load(run_dir, selection.name) == selection


def test_select_from_run_diversity_reads_embeddings(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path, embeddings=True)
    selection = select_from_run(run_dir, "diversity", n_select=10, random_state=0, save=False)
    assert selection.n == 10
    assert list_selections(run_dir) == []


def test_select_from_run_diversity_needs_embeddings(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path)
    with pytest.raises(RunDirectoryError, match="no embeddings"):
        select_from_run(run_dir, "diversity", n_select=10)


def test_select_from_run_identity_needs_sequences(tmp_path) -> None:
    run_dir, _ = make_run(tmp_path)
    with pytest.raises(ValueError, match="sequences"):
        select_from_run(run_dir, "identity", n_select=10)


def test_aligning_sequences_names_missing_ids() -> None:
    assert align_sequences(["b", "a"], {"a": "AC", "b": "GU"}) == ["GU", "AC"]
    with pytest.raises(InputError, match="1 scored ids have no sequence"):
        align_sequences(["a", "c"], {"a": "AC", "b": "GU"})


def test_select_from_run_ranks_by_the_score_variant_asked_for(tmp_path) -> None:
    from biocoreset_viz.errors import ConfigError
    from biocoreset_viz.score_variants import score_values

    run_dir, frame = make_run(tmp_path)
    by_loss = select_from_run(run_dir, "topi", n_select=10, score="loss", save=False)
    np.testing.assert_array_equal(
        by_loss.indices, TopInfluence(n_select=10).fit_select(frame["loss"].to_numpy())
    )
    assert by_loss.summary["score"] == "loss" and by_loss.name.endswith("-loss")
    adjusted = select_from_run(
        run_dir, "cci", pruning_rate=0.5, random_state=3, score="length_adjusted"
    )
    expected = CoverageCentric(pruning_rate=0.5, random_state=3).fit_select(
        score_values(frame, "length_adjusted")
    )
    np.testing.assert_array_equal(adjusted.indices, expected)
    assert Selection.load(run_dir, adjusted.name).summary["score"] == "length_adjusted"
    plain = select_from_run(run_dir, "topi", n_select=10, save=False)
    assert "score" not in plain.summary
    with pytest.raises(ConfigError, match="unknown score 'influence'"):
        select_from_run(run_dir, "topi", n_select=10, score="influence")
    with pytest.raises(ConfigError, match="score 'gradient_norm'.*rescore"):
        select_from_run(run_dir, "topi", n_select=10, score="gradient_norm")
