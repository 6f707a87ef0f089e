"""The dashboard without a browser: controls in, every view's data out; the server's guards."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.app import data as app_data
from biocoreset_viz.app import store as app_store
from biocoreset_viz.app.data import (
    LabelIndex,
    NearestSelected,
    points_in_polygon,
    read_uploaded_ids,
    resolve_run_dir,
)
from biocoreset_viz.app.server import check_served_runs
from biocoreset_viz.app.store import DataStore
from biocoreset_viz.cli import main
from biocoreset_viz.coverage import embedding_coverage, label_coverage, stratum_coverage
from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.projection import ProjectionSettings, write_projection
from biocoreset_viz.runs import ScoreTable, write_json
from biocoreset_viz.selection import (
    RandomSelection,
    TopInfluence,
    coreset_size,
    select_from_run,
)
from biocoreset_viz.sequences import read_sequences

XSS_ID = "<script>window.__xss=1</script>"
XSS_FAMILY = "<img src=x onerror=window.__xss=2>"


def write_run(
    folder: Path,
    n: int = 400,
    *,
    dim: int = 8,
    seed: int = 0,
    projection: bool = False,
    curves: bool = False,
) -> Path:
    """A run of ``n`` RNAs in 8 families, with its input FASTA, embeddings and labels.

    Sequence 3's id is a script tag and family 0's name an image tag, to prove
    that they are shown as text. ``projection`` caches a UMAP-keyed map (so no
    UMAP is computed); ``curves`` adds downstream learning curves.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"rna{i:04d}" for i in range(n)]
    ids[3] = XSS_ID
    sequences = ["".join(rng.choice(list("ACGU"), rng.integers(20, 60))) for _ in range(n)]
    fasta = folder / "input.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences, strict=True)))
    family = rng.integers(0, 8, n)
    centres = rng.normal(scale=4.0, size=(8, dim))
    embeddings = (centres[family] + rng.normal(size=(n, dim))).astype(np.float16)
    frame = pd.DataFrame(
        {
            "index": np.arange(n, dtype=np.int64),
            "id": ids,
            "length": [len(s) for s in sequences],
            "truncated": np.zeros(n, dtype=bool),
            "loss": rng.random(n),
            "self_influence": rng.lognormal(size=n),
            "family": [XSS_FAMILY if f == 0 else f"RF{f:05d}" for f in family],
            "cluster": [f"c{f * 2 + rng.integers(2)}" for f in family],
        }
    )
    manifest = {"model": "test-model", "molecule": "rna", "input": {"path": str(fasta)}}
    run_dir = ScoreTable(frame, embeddings, manifest).save(folder / "run")
    if projection:
        coordinates = embeddings[:, :2].astype(np.float32)
        write_projection(
            run_dir,
            pd.DataFrame({"index": frame["index"], "x": coordinates[:, 0], "y": coordinates[:, 1]}),
            ProjectionSettings(),
        )
    if curves:
        rows = [
            {
                "subset": s,
                "seed": seed_,
                "step": step,
                "tokens_seen": step * 100,
                "task": "ss",
                "metric": "f1",
                "value": 0.1 * step + 0.01 * seed_,
            }
            for s in ("cci", "random")
            for seed_ in (0, 1)
            for step in (1, 2, 3)
        ]
        (run_dir / "evaluation").mkdir()
        pd.DataFrame(rows).to_parquet(run_dir / "evaluation" / "curves.parquet")
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("app"), projection=True, curves=True)


@pytest.fixture
def store(run_dir) -> DataStore:
    return DataStore(run_dir, umap=False)


# ------------------------------------------------------------------ DataStore


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


def test_a_refused_control_keeps_the_last_selection_and_says_why(store) -> None:
    store.param.update(method="cci", pruning_rate=0.9, hard_cutoff=0.1)
    before, revision = store.selection, store.revision
    store.pruning_rate = 0.05  # keeps 380 of 400 but only 360 survive the cutoff
    assert "larger than the 360 sequences that survive" in store.error
    assert store.selection is before and store.revision == revision
    store.pruning_rate = 0.5
    assert store.error == "" and store.revision == revision + 1


def test_initial_controls_the_method_refuses_raise(run_dir) -> None:
    with pytest.raises(ConfigError, match="survive hard_cutoff"):
        DataStore(run_dir, umap=False, pruning_rate=0.0, hard_cutoff=0.2)


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


def test_the_cached_umap_map_is_used_and_brushing_lists_a_region(store) -> None:
    assert store.projection_kind == "umap"
    frame = store.map_frame()
    assert (frame["status"] == "coreset").sum() == store.selection.n
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    store.brush_box(x.min() - 1, y.min() - 1, float(np.median(x)), y.max() + 1)
    assert set(store.brushed) == set(np.flatnonzero(x <= np.median(x)))
    rows, caption = store.table_rows()
    assert caption.startswith(f"{len(store.brushed):,} sequences in the region")
    assert (rows["status"] == "coreset").sum() == store.selected[store.brushed].sum()
    triangle = ([x.min() - 1, x.max() + 1, x.min() - 1], [y.min() - 1, y.min() - 1, y.max() + 1])
    store.brush_lasso(*triangle)
    assert set(store.brushed) == set(np.flatnonzero(points_in_polygon(x, y, *triangle)))
    store.clear_brush()
    rows, caption = store.table_rows()
    assert "in the coreset" in caption and len(rows) == store.selection.n
    assert rows["self_influence"].is_monotonic_decreasing


def test_pca_is_shown_until_the_background_umap_arrives(tmp_path, monkeypatch) -> None:
    run_dir = write_run(tmp_path, n=120)
    release = threading.Event()

    def slow_umap(source, **settings):
        release.wait(10)
        return pd.DataFrame({"index": np.arange(120), "x": np.zeros(120), "y": np.ones(120)})

    monkeypatch.setattr(app_store, "project_umap", slow_umap)
    store = DataStore(run_dir)
    assert store.projection_kind == "pca" and "being computed" in store.projection_status
    assert store.poll_projection() is False
    release.set()
    store.wait_for_projection(timeout=10)
    assert store.projection_kind == "umap"
    assert store.map_frame()["y"].eq(1.0).all()


def test_uploaded_ids_are_highlighted(store) -> None:
    fasta = f">{store.ids[5]}\nACGU\n>{XSS_ID}\nACGU\n>not-in-run\nACGU\n".encode()
    store.highlight_upload(fasta, "mine.fasta")
    assert sorted(store.highlighted) == [3, 5]
    assert store.highlight_message == "mine.fasta: 2 of 3 ids found in this run (1 not in the pool)"
    rows, caption = store.table_rows()
    assert "highlighted" in caption and XSS_ID in rows["id"].tolist()
    store.highlight_upload(gzip.compress(b"id,sequence\nrna0007,ACGU\n"), "mine.csv.gz")
    assert list(store.highlighted) == [7]


def test_uploads_are_size_limited() -> None:
    with pytest.raises(InputError, match=r"big\.fasta: file is 0\.0 MB; uploads are limited to"):
        read_uploaded_ids(b">a\nACGU\n" * 10, "big.fasta", max_bytes=20)


def test_uploads_of_other_file_types_are_refused() -> None:
    with pytest.raises(InputError, match=r"notes\.exe: unsupported file type"):
        read_uploaded_ids(b"MZ\x00\x00", "notes.exe")


def test_uploads_are_validated_by_the_sequence_reader_and_name_the_upload() -> None:
    with pytest.raises(InputError, match=r"^bad\.fasta:1: binary content") as error:
        read_uploaded_ids(b">a\x00\nACGU\n", "../../bad.fasta")
    assert "biocoreset-upload" not in str(error.value)  # never the temporary path
    with pytest.raises(InputError, match=r"^dup\.fasta:3: duplicate id"):
        read_uploaded_ids(b">a\nACGU\n>a\nACGU\n", "dup.fasta")


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
    from biocoreset_viz.app.store import default_score_scale

    assert default_score_scale(np.random.default_rng(0).lognormal(sigma=1.5, size=1_000)) == "log"
    assert default_score_scale(np.linspace(1.0, 2.0, 100)) == "linear"
    assert default_score_scale(np.array([0.0, 1.0, 100.0])) == "linear"  # a zero has no log
    assert store.score_scale == default_score_scale(store.scores)
    store.score_scale = "linear"
    np.testing.assert_allclose(store.histogram["left"].iloc[0], store.scores.min())


# ------------------------------------------------------------- fast helpers


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_selected_matches_the_exact_computation(metric, monkeypatch) -> None:
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(900, 6)).astype(np.float32)
    monkeypatch.setattr(app_data, "_BLOCK_ENTRIES", 900 * 100)  # several blocks
    index = NearestSelected(matrix, metric=metric, n_neighbours=12)
    for fraction in (0.6, 0.05, 0.002):
        chosen = np.sort(rng.choice(900, max(1, int(900 * fraction)), replace=False))
        found = index.query(chosen)
        exact = embedding_coverage(matrix, chosen, metric=metric)
        np.testing.assert_array_equal(found.pruned, exact.pruned)
        np.testing.assert_allclose(found.distances, exact.distances, rtol=1e-6, atol=1e-9)


def test_nearest_selected_samples_probes_of_a_large_pool() -> None:
    matrix = np.random.default_rng(3).normal(size=(500, 4))
    index = NearestSelected(matrix, n_probes=50, exact_below=100)
    assert index.sampled and len(index.probes) == 50
    chosen = np.arange(0, 500, 5)
    found = index.query(chosen)
    exact = embedding_coverage(matrix, chosen)
    lookup = dict(zip(exact.pruned, exact.distances, strict=True))
    np.testing.assert_allclose(found.distances, [lookup[p] for p in found.pruned], rtol=1e-6)
    with pytest.raises(ValueError, match="no selected sequence"):
        index.query(np.zeros(500, dtype=bool))


def test_label_index_matches_label_coverage() -> None:
    labels = np.array(["b", "a", None, "", "a", "c", np.nan, "b", "a"], dtype=object)
    index = LabelIndex(labels)
    for chosen in ([0, 1], [2, 3, 6], [], [5, 8]):
        pd.testing.assert_frame_equal(
            index.coverage(np.array(chosen, dtype=np.int64)).table,
            label_coverage(labels, np.array(chosen, dtype=np.int64)).table,
        )


def test_points_in_polygon_uses_the_even_odd_rule() -> None:
    x = np.array([0.5, 1.5, 2.5, 1.5, 5.0])
    y = np.array([0.5, 0.5, 2.5, 1.5, 5.0])
    # an L shape: the square (0,0)-(2,2) without its upper-right quarter
    xs = [0, 2, 2, 1, 1, 0]
    ys = [0, 0, 1, 1, 2, 2]
    assert points_in_polygon(x, y, xs, ys).tolist() == [True, True, False, False, False]


# ------------------------------------------------------------- serving guards


def test_run_paths_inside_the_root_resolve(run_dir) -> None:
    root = run_dir.parent
    assert resolve_run_dir("run", root) == run_dir.resolve()
    assert resolve_run_dir("./run/../run", root) == run_dir.resolve()


def test_path_traversal_out_of_the_root_is_refused(run_dir) -> None:
    with pytest.raises(RunDirectoryError, match="outside the folder this server may open"):
        resolve_run_dir("../" * 10 + "etc", run_dir)


def test_absolute_paths_out_of_the_root_are_refused(run_dir) -> None:
    with pytest.raises(RunDirectoryError, match="outside the folder"):
        resolve_run_dir(str(run_dir.parent), run_dir)


def test_symbolic_links_out_of_the_root_are_refused(run_dir, tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(run_dir)
    with pytest.raises(RunDirectoryError, match="outside the folder"):
        resolve_run_dir("escape", root)


def test_folders_that_are_not_runs_are_refused(run_dir) -> None:
    with pytest.raises(RunDirectoryError, match="'scores' is not a run directory"):
        resolve_run_dir("scores", run_dir)


def test_the_served_run_must_lie_in_the_root(run_dir, tmp_path) -> None:
    assert check_served_runs(run_dir, None) == (run_dir.resolve(), run_dir.resolve())
    with pytest.raises(RunDirectoryError, match="outside the root folder"):
        check_served_runs(run_dir, tmp_path)


def test_serve_command_refuses_a_bad_run_in_one_line(tmp_path, capsys) -> None:
    write_json(tmp_path / "manifest.json", {"model": "x"})
    assert main(["serve", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("biocoreset serve: error: ") and error.count("\n") == 1
    assert main(["serve", str(tmp_path)]) == 2  # a manifest but no scores
    assert "not a run directory" in capsys.readouterr().err


def test_serve_command_says_when_the_port_is_taken(run_dir, capsys) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(run_dir), "--port", str(port), "--no-umap"]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err


# ------------------------------------------------------------------- views


def test_views_show_the_store_and_escape_text(store) -> None:
    import holoviews as hv
    from bokeh.document import Document

    from biocoreset_viz.app import App
    from biocoreset_viz.app.views import (
        CurvesView,
        HistogramView,
        MapView,
        SummaryCards,
        summary_cards_html,
    )

    store.param.update(method="cci", pruning_rate=0.9)
    app = App(store)
    page = app.__panel__()
    page.get_root(Document())  # every view becomes Bokeh models without error
    cards = SummaryCards(store)
    assert f'coreset-size">{store.selection.n:,}<' in cards.html()
    store.pruning_rate = 0.8
    assert f'coreset-size">{coreset_size(store.n_total, 0.8, None):,}<' in cards.html()
    assert "keeps 80 of 400" in app.controls.alpha_label()
    bars = HistogramView(store).figure().dframe()
    assert bars[bars["kind"] == "coreset"]["y1"].sum() == store.selection.n
    kept = [e for e in MapView(store).figure().values() if isinstance(e, hv.Points)][1]
    assert len(kept) == store.selection.n
    assert isinstance(CurvesView(store).figure(), hv.Layout)
    html = summary_cards_html({**store.summary, "labels": {XSS_FAMILY: (1, 2)}})
    assert XSS_FAMILY not in html and "&lt;img src=x onerror=window.__xss=2&gt;" in html


def test_sliders_of_large_pools_update_on_release(store, monkeypatch) -> None:
    import param
    from bokeh.document import Document

    from biocoreset_viz.app import views
    from biocoreset_viz.app.views import Controls

    monkeypatch.setattr(views, "LIVE_UP_TO", 100)  # the fixture's 400 count as large
    store.param.update(method="cci", pruning_rate=0.9)
    column = Controls(store).__panel__()
    column.get_root(Document())
    alpha = next(w for w in column if "bc-alpha" in w.css_classes)
    alpha.value = 0.5  # dragging
    assert store.pruning_rate == 0.9
    with param.edit_constant(alpha):
        alpha.value_throttled = 0.5  # released
    assert store.pruning_rate == 0.5 and store.selection.n == 200
    assert alpha.label == "α, pruning rate: keeps 200 of 400"
    store.pruning_rate = 0.75
    assert alpha.value == 0.75
