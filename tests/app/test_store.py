"""The dashboard's state without a browser: controls in, every view's data out, exports."""

from __future__ import annotations

import gzip
import json
import tempfile
import time

import numpy as np
import pandas as pd
import pytest
from support.app_runs import XSS_ID, write_run

from biocoreset_viz.app import store as app_store
from biocoreset_viz.app.store import MAP_STATUS, DataStore
from biocoreset_viz.coverage import embedding_coverage, label_coverage, stratum_coverage
from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.runs import curves_path
from biocoreset_viz.selection import (
    RandomSelection,
    TopInfluence,
    coreset_size,
    select_from_run,
)
from biocoreset_viz.selection.controls import accepted_parameters
from biocoreset_viz.sequences import read_sequences


def test_moving_alpha_changes_the_coreset_size_exactly(store) -> None:
    n_total = store.n_total
    for alpha in (0.5, 0.73, 0.9, 0.99):
        store.pruning_rate = alpha
        assert store.error == ""
        assert store.selection.n == coreset_size(n_total, alpha, None)
        assert store.summary["coreset"] == store.selection.n
        assert store.selected.sum() == store.selection.n
        assert store.histogram["selected"].sum() == store.selection.n


def test_the_store_selects_exactly_what_the_library_selects(store, run_dir) -> None:
    store.param.update(pruning_rate=0.8, hard_cutoff=0.05, n_strata=20, strata="quantile", seed=3)
    expected = select_from_run(
        run_dir,
        "cci",
        save=False,
        pruning_rate=0.8,
        hard_cutoff=0.05,
        n_strata=20,
        strata="quantile",
        random_state=3,
    )
    np.testing.assert_array_equal(store.selection.indices, expected.indices)
    assert list(store.selection.ids) == list(expected.ids)
    store.seed = 4
    assert not np.array_equal(store.selection.indices, expected.indices)


def test_switching_method_changes_the_selection(store) -> None:
    store.pruning_rate = 0.9
    cci = store.selection.indices
    store.method = "topi"
    top = TopInfluence(pruning_rate=0.9).fit(store.scores).indices_
    np.testing.assert_array_equal(store.selection.indices, top)
    assert not np.array_equal(cci, top)
    store.method = "random"
    np.testing.assert_array_equal(
        store.selection.indices,
        RandomSelection(pruning_rate=0.9, random_state=0).fit_select(store.scores),
    )
    store.method = "diversity"
    assert store.selection.method == "diversity" and store.selection.n == store.coreset_size()


def test_non_cci_methods_show_the_strata_cci_would_use(store) -> None:
    store.param.update(method="topi", pruning_rate=0.9, hard_cutoff=0.1, n_strata=10)
    expected = stratum_coverage(store.scores, store.selection.indices, n_strata=10, hard_cutoff=0.1)
    pd.testing.assert_frame_equal(store.strata_table, expected.table)
    assert store.selected_in_cutoff == expected.selected_in_cutoff > 0  # Top-I keeps the cut ones
    assert store.cutoff is None
    store.method = "cci"
    assert store.selected_in_cutoff == 0 and store.cutoff is not None
    assert store.strata_table["selected"].sum() == store.selection.n
    assert len(store.strata_edges) == 9


def test_alpha_below_beta_is_raised_for_cci_and_every_number_agrees(store) -> None:
    store.param.update(method="cci", pruning_rate=0.9, hard_cutoff=0.1)
    store.pruning_rate = 0.05  # would keep 380 of 400, but only 360 survive the cutoff
    assert store.pruning_rate == 0.1 == store.alpha_floor()
    assert store.note.startswith("α (pruning rate) raised to 0.10: a CCI coreset holds at most")
    assert "360 sequences that survive β (hard cutoff) 0.10" in store.note
    assert store.error == ""
    assert store.selection.n == store.coreset_size() == store.summary["coreset"] == 360
    assert len(store.coreset_csv().decode().splitlines()) == 361
    store.hard_cutoff = 0.3  # raising β pushes α up with it
    assert store.pruning_rate == 0.3 and store.selection.n == 280 == store.eligible()
    store.method = "topi"  # other methods take any α
    assert store.alpha_floor() == 0.0
    store.pruning_rate = 0.05
    assert store.selection.n == 380 and store.note == ""


def test_initial_controls_cci_cannot_honour_are_moved(run_dir) -> None:
    store = DataStore(run_dir, umap=False, pruning_rate=0.0, hard_cutoff=0.2)
    assert store.pruning_rate == 0.2 and store.selection.n == 320
    assert "raised to 0.20" in store.note


def test_too_many_strata_for_a_tiny_pool_are_lowered(tmp_path) -> None:
    store = DataStore(write_run(tmp_path, n=12), umap=False, pruning_rate=0.5, n_strata=50)
    assert store.n_strata == store.eligible() == 11
    assert "k (strata) lowered to 11" in store.note


def test_a_selector_message_names_the_controls_as_the_page_does(store, monkeypatch) -> None:
    def refuse(method, **params):
        raise ConfigError("hard_cutoff=0.4 leaves n_strata=50 strata for pruning_rate=0.9")

    store.param.update(method="cci", pruning_rate=0.9)
    before = store.selection
    monkeypatch.setattr(app_store, "make_selector", refuse)
    store.seed = 11
    assert store.error == (
        "β (hard cutoff) 0.4 leaves k (strata) 50 strata for α (pruning rate) 0.9"
    )
    assert store.selection is before  # the last valid selection stays


def test_strata_boundaries_are_cci_only(store) -> None:
    store.param.update(method="cci", n_strata=10)
    assert len(store.strata_edges) == 9 and store.summary["uses_strata"]
    store.method = "random"
    assert len(store.strata_edges) == 0 and not store.summary["uses_strata"]
    assert store.strata_table["available"].sum() > 0  # CCI's strata, for comparison


def test_a_slow_method_selects_in_the_background_and_shows_no_stale_numbers(store) -> None:
    pending: list = []
    store.select_in_background(pending.append)  # the page's scheduler, run by hand here
    store.param.update(method="cci", pruning_rate=0.9)
    cci = store.selection
    store.method = "diversity"
    assert store.busy.startswith("Selecting with Embedding diversity (k-means)")
    assert store.selection is cci  # not replaced yet, and the views say they are waiting
    deadline = time.monotonic() + 60
    while not pending and time.monotonic() < deadline:
        time.sleep(0.05)
    pending.pop()()  # the worker is done: apply on the page's thread
    assert store.busy == "" and store.selection.method == "diversity"
    # a newer change supersedes a slow selection still running
    store.pruning_rate = 0.8
    assert store.busy
    store.method = "random"
    assert store.busy == "" and store.selection.method == "random"
    while not pending and time.monotonic() < deadline:
        time.sleep(0.05)
    pending.pop()()
    assert store.selection.method == "random"
    store.method = "diversity"  # remembered: applied at once
    assert store.busy == "" and store.selection.method == "diversity"


def test_score_vs_length_and_the_map_coloured_by_a_label(store) -> None:
    points = store.length_frame()
    assert points["x"].tolist() == store.frame["length"].astype(float).tolist()
    np.testing.assert_array_equal(points["y"], store.scores)
    assert (points["status"] == "coreset").sum() == store.selection.n
    assert set(store.param.map_colour.objects) == {MAP_STATUS, "family", "cluster"}
    assert "colour" not in store.map_frame()
    store.map_colour = "cluster"
    colours = store.map_frame()["colour"]
    assert len(colours.cat.categories) <= 11 and colours.notna().all()


def test_label_and_neighbour_figures_follow_the_selection(store) -> None:
    store.param.update(method="cci", pruning_rate=0.7)
    for column in ("family", "cluster"):
        expected = label_coverage(store.frame[column], store.selection.indices).table
        pd.testing.assert_frame_equal(store.labels[column].table, expected)
    assert store.summary["labels"]["family"] == (store.labels["family"].represented, 8)
    exact = embedding_coverage(store.embeddings, store.selection.indices)
    np.testing.assert_array_equal(store.neighbours.pruned, exact.pruned)
    np.testing.assert_allclose(store.neighbours.distances, exact.distances, rtol=1e-9)
    assert store.summary["nn_median"] == pytest.approx(exact.median)


def test_uploaded_ids_are_highlighted(store) -> None:
    fasta = f">{store.ids[5]}\nACGU\n>{XSS_ID}\nACGU\n>not-in-run\nACGU\n".encode()
    store.highlight_upload(fasta, "mine.fasta")
    assert sorted(store.highlighted) == [3, 5]
    assert store.highlight_message == "mine.fasta: 2 of 3 ids found in this run (1 not in the pool)"
    rows, caption = store.table_rows()
    assert "highlighted" in caption and XSS_ID in rows["id"].tolist()
    store.highlight_upload(gzip.compress(b"id,sequence\nrna0007,ACGU\n"), "mine.csv.gz")
    assert list(store.highlighted) == [7]


def test_exports_hold_exactly_the_coreset(store, run_dir) -> None:
    store.param.update(method="cci", pruning_rate=0.9, seed=1)
    fasta = store.coreset_fasta()
    path = run_dir.parent / "export.fasta"
    path.write_bytes(fasta)
    exported = read_sequences(path)
    assert exported.ids == [str(i) for i in store.selection.ids]
    pool = read_sequences(run_dir.parent / "input.fasta")
    lookup = dict(zip(pool.ids, pool.sequences, strict=True))
    assert exported.sequences == [lookup[i] for i in exported.ids]
    lines = store.coreset_csv().decode().splitlines()
    assert lines[0] == "index,id" and len(lines) == store.selection.n + 1
    manifest = json.loads(store.coreset_manifest())
    assert manifest["method"] == "cci" and manifest["params"]["random_state"] == 1
    assert manifest["indices"] == store.selection.indices.tolist()


def test_fasta_export_says_why_it_is_unavailable(tmp_path) -> None:
    run_dir = write_run(tmp_path, n=60)
    (tmp_path / "input.fasta").unlink()
    store = DataStore(run_dir, umap=False)
    assert store.fasta_unavailable() == "the scored input file recorded in the manifest is missing"
    with pytest.raises(RunDirectoryError, match="cannot export FASTA: the scored input file"):
        store.coreset_fasta()
    assert "identity" not in store.param.method.objects.values()


def test_a_really_scored_run_opens_and_exports_its_coreset(tmp_path) -> None:
    from biocoreset_viz.datasets import load_demo
    from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig, score_run
    from biocoreset_viz.models import build_esm2

    pool = load_demo("rna").subset(np.arange(0, 4_223, 28))  # 151 real RNAs
    model = build_esm2(2, 32, 2, "rna", seed=0)
    score_run(
        pool,
        (model, model.alphabet),
        tmp_path / "run",
        InfluenceConfig(max_length=128),
        finetune_settings=FinetuneSettings(epochs=0),
        progress=False,
    )
    store = DataStore(tmp_path / "run", umap=False, pruning_rate=0.8)
    assert store.n_total == 151 and store.projection_kind == "pca"
    assert "family" in store.param.label_column.objects
    assert "structure" not in store.param.label_column.objects  # not a grouping
    assert store.fasta_unavailable() is None  # the manifest records demo:rna
    path = tmp_path / "coreset.fasta"
    path.write_bytes(store.coreset_fasta())
    exported = read_sequences(path)
    assert exported.ids == [str(i) for i in store.selection.ids] and len(exported) == 30
    lookup = dict(zip(pool.ids, pool.sequences, strict=True))
    assert exported.sequences == [lookup[i] for i in exported.ids]


def test_long_tailed_scores_open_on_a_log_axis(store) -> None:
    from biocoreset_viz.app.loading import default_score_scale

    assert default_score_scale(np.random.default_rng(0).lognormal(sigma=1.5, size=1_000)) == "log"
    assert default_score_scale(np.linspace(1.0, 2.0, 100)) == "linear"
    assert default_score_scale(np.array([0.0, 1.0, 100.0])) == "linear"  # a zero has no log
    assert store.score_scale == default_score_scale(store.scores)
    store.score_scale = "linear"
    np.testing.assert_allclose(store.histogram["left"].iloc[0], store.scores.min())


def test_the_controls_reach_each_selector_through_the_shared_mapping(store) -> None:
    controls = {"pruning_rate", "hard_cutoff", "n_strata", "strata", "random_state"}
    for method in ("cci", "topi", "bottomi", "random", "diversity"):
        store.method = method
        assert set(store.selector_params()) == controls & set(accepted_parameters(method))
    store.param.update(method="cci", seed=7)
    assert store.selector_params()["random_state"] == 7


def test_exports_write_no_file(store, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("an export touched the file system")

    store.coreset_fasta()  # reads (and caches) the run's input sequences first
    for name in ("TemporaryDirectory", "NamedTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    assert store.coreset_fasta().startswith(b">")
    assert store.coreset_csv().startswith(b"index,id\n")
    assert json.loads(store.coreset_manifest())["n"] == store.selection.n


def test_learning_curves_are_read_again_when_the_file_changes(tmp_path) -> None:
    run_dir = write_run(tmp_path, n=60, curves=True)
    store = DataStore(run_dir, umap=False)
    first = store.curves()
    assert set(first["subset"]) == {"cci", "random"} and store.curves() is first  # cached
    changed = first[first["subset"] == "cci"]
    changed.to_parquet(curves_path(run_dir))
    assert set(store.curves()["subset"]) == {"cci"}
    curves_path(run_dir).unlink()
    assert store.curves() is None
