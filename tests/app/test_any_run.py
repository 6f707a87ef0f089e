"""Any run opens: the store, the figures, the page and the command line on generated runs.

Runs as users bring them (:func:`support.app_runs.generated_table`): no label
columns, some (only ``family``) or all (one of them grouping nothing); one
sequence up to a few hundred; typical, equal or extreme but finite scores; with
or without embeddings (a selection-only Parquet run). Hypothesis draws the runs
and a sequence of control changes; after every change the α label, the cards,
the histogram, the table and the exports agree on the coreset, and at the end
every figure the run can show renders to Bokeh and the whole page builds.
"""

from __future__ import annotations

import holoviews as hv
import numpy as np
import pytest
from bokeh.document import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.app_runs import LABEL_SETS, SCORE_KINDS, generated_table

from biocoreset_viz import plots
from biocoreset_viz.app.dashboard import App
from biocoreset_viz.app.store import DataStore
from biocoreset_viz.cli import main
from biocoreset_viz.selection import coreset_size

SLOW = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

runs = st.fixed_dictionaries(
    {
        "n": st.one_of(st.sampled_from([1, 2, 3, 5]), st.integers(6, 150)),
        "labels": st.sampled_from(sorted(LABEL_SETS)),
        "scores": st.sampled_from(SCORE_KINDS),
        "embeddings": st.booleans(),
        "seed": st.integers(0, 20),
    }
)
changes = st.lists(
    st.one_of(
        st.tuples(st.just("method"), st.sampled_from(["cci", "topi", "bottomi", "random"])),
        st.tuples(st.just("method"), st.just("diversity")),
        st.tuples(st.just("pruning_rate"), st.integers(0, 99).map(lambda step: step / 100)),
        st.tuples(st.just("pruning_rate"), st.floats(0.0, 0.99)),
        st.tuples(st.just("hard_cutoff"), st.integers(0, 50).map(lambda step: step / 100)),
        st.tuples(st.just("n_strata"), st.integers(1, 200)),
        st.tuples(st.just("strata"), st.sampled_from(["equal_width", "quantile"])),
        st.tuples(st.just("seed"), st.integers(0, 2**31 - 1)),
        st.tuples(st.just("score_scale"), st.sampled_from(["linear", "log"])),
    ),
    max_size=8,
)


def check_agreement(store: DataStore, app: App) -> None:
    """The label, the cards, the histogram, the table and the exports show one coreset."""
    n = store.selection.n
    assert store.error == ""
    assert store.summary["coreset"] == n == int(store.selected.sum())
    assert app.controls.alpha_label().endswith(f"keeps {n:,} of {store.n_total:,}")
    assert f'coreset-size">{n:,}<' in app.cards.html()
    assert len(store.coreset_csv().decode().splitlines()) == n + 1
    shown = store.histogram["selected"].sum()
    positive = store.scores > 0
    assert shown == (
        int(positive[store.selection.indices].sum()) if store._bins[store.score_scale].log else n
    )
    if store.method == "cci":
        assert n <= store.eligible() and store.pruning_rate >= store.alpha_floor()
    else:
        assert n == coreset_size(store.n_total, float(store.pruning_rate), None)
    rows, caption = store.table_rows()
    assert len(rows) == min(n, 2_000) and caption.startswith(f"{n:,} sequences in the coreset")


def render_every_view(app: App) -> None:
    views = (app.histogram, app.length, app.map, app.strata, app.redundancy, app.neighbours)
    for view in views:
        if view.unavailable() is None:
            figure = view.figure()
            hv.render(figure, backend="bokeh")
            title = figure.opts.get().kwargs.get("title", "")
            assert len(title) <= plots.TITLE_CHARS, title


@SLOW
@given(run=runs, steps=changes)
def test_any_run_opens_and_its_controls_say_one_truth(run, steps) -> None:
    table = generated_table(**run)
    store = DataStore(table=table, umap=False)
    app = App(store)
    app.__panel__().get_root(Document())  # the whole page builds
    if run["labels"] == "none":
        assert store.label_column is None and store.param.map_colour.objects == [
            "coreset or pruned"
        ]
    assert store.label_column in (None, *store.group_columns)
    assert None not in store.group_columns
    check_agreement(store, app)
    for name, value in steps:
        if name == "method" and value not in store.param.method.objects.values():
            assert run["embeddings"] is False  # diversity needs embeddings
            continue
        setattr(store, name, value)
        check_agreement(store, app)
    render_every_view(app)


@pytest.mark.parametrize(
    ("labels", "scores"), [("none", "signed extreme"), ("family", "equal"), ("all", "extreme")]
)
def test_every_label_set_opens_from_a_run_directory(tmp_path, labels, scores) -> None:
    run_dir = generated_table(40, labels=labels, scores=scores).save(tmp_path / "run")
    store = DataStore(run_dir, umap=False)
    app = App(store)
    app.__panel__().get_root(Document())
    check_agreement(store, app)
    expected = {"none": None, "family": "family", "all": "family"}[labels]
    assert store.label_column == expected
    render_every_view(app)


def test_a_run_of_one_sequence_opens_with_a_coreset(tmp_path) -> None:
    run_dir = generated_table(1, embeddings=True).save(tmp_path / "run")
    store = DataStore(run_dir)
    assert store.selection.n == 1 and store.pruning_rate == 0.5  # lowered from 0.9
    assert store.projection_kind == "pca" and store.neighbours is None
    App(store).__panel__().get_root(Document())


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=60
    ),
    bins=st.integers(1, 80),
    log=st.booleans(),
)
def test_score_bins_hold_every_finite_score(scores, bins, log) -> None:
    values = np.asarray(scores)
    if log and not (values > 0).any():
        return
    fitted = plots.ScoreBins.fit(values, bins=bins, log=log)
    shown = values > 0 if log else np.ones(len(values), dtype=bool)
    assert np.isfinite(fitted.edges).all() and (np.diff(fitted.edges) >= 0).all()
    assert fitted.pool.sum() == shown.sum()
    assert fitted.table(np.arange(len(values)))["selected"].sum() == shown.sum()
    figure = plots.influence_histogram(
        fitted.table([0]), log=log, cutoff=float(values.max()), strata_edges=values[:3]
    )
    assert np.isfinite(figure.dframe()[["x0", "x1"]].to_numpy()).all()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(run=runs, method=st.sampled_from(["cci", "topi", "random", "diversity"]))
def test_the_command_line_selects_from_any_run_or_says_why_in_one_line(
    tmp_path_factory, capsys, run, method
) -> None:
    run_dir = generated_table(**run).save(tmp_path_factory.mktemp("cli") / "run")
    status = main(["select", str(run_dir), "--method", method, "--pruning-rate", "0.5"])
    out, err = capsys.readouterr()
    if method == "diversity" and not run["embeddings"]:
        assert status == 2
    assert status in (0, 2)
    if status == 2:
        assert err.startswith("biocoreset select: error: ") and err.count("\n") == 1
        assert "Traceback" not in err
