"""The Selection record: what it records, its JSON round trip, equality and its exports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.selection import (
    fitted_cci,
)

from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.runs import read_json
from biocoreset_viz.selection import (
    Selection,
    list_selections,
)
from biocoreset_viz.sequences import SequenceSet, read_sequences


def test_selection_records_the_fit() -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, source_run="runs/demo")
    assert selection.method == "cci"
    assert selection.n == 40 == len(selection)
    assert selection.n_total == 200
    assert selection.seed == 7
    assert selection.params["hard_cutoff"] == 0.1
    assert selection.name == "cci-n40-b0.1-k5-seed7"
    assert selection.source_run == "runs/demo"
    np.testing.assert_array_equal(selection.indices, selector.indices_)
    assert list(selection.ids) == [ids[i] for i in selector.indices_]
    assert selection.strata.equals(selector.strata_)
    assert selection.summary["n_eligible"] == 180


def test_selection_round_trips_through_a_run_directory(tmp_path) -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, name="coreset")
    path = selection.save(tmp_path)
    assert path == tmp_path / "selections" / "coreset.json"
    assert Selection.exists(tmp_path, "coreset")
    assert not Selection.exists(tmp_path, "other")
    assert list_selections(tmp_path) == ["coreset"]
    loaded = Selection.load(tmp_path, "coreset")
    assert loaded == selection
    assert Selection.load(path) == selection
    assert loaded.strata["left"].dtype == np.float64
    assert loaded.strata["budget"].dtype == np.int64
    assert loaded.created == selection.created
    payload = read_json(path)
    assert payload["indices"] == selector.indices_.tolist()
    assert payload["n"] == 40 and payload["method"] == "cci"


def test_selection_equality_sees_every_field() -> None:
    selector, ids = fitted_cci()
    selection = selector.to_selection(ids, name="a")
    other = selector.to_selection(ids, name="a")
    other.created = selection.created
    assert other == selection
    other.indices = other.indices[::-1].copy()
    assert other != selection
    renamed = selector.to_selection(ids, name="b")
    renamed.created = selection.created
    assert renamed != selection


def test_loading_a_bad_selection_file_names_it(tmp_path) -> None:
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(RunDirectoryError, match="bad.json: not a readable selection"):
        Selection.load(tmp_path / "bad.json")
    with pytest.raises(RunDirectoryError, match="no such selection"):
        Selection.load(tmp_path, "absent")
    with pytest.raises(ValueError, match="plain file name"):
        Selection.load(tmp_path, "../escape")


def test_ids_must_cover_the_pool() -> None:
    selector, ids = fitted_cci()
    with pytest.raises(ValueError, match="ids has 199 entries for a pool of 200"):
        selector.to_selection(ids[:-1])


# ----------------------------------------------------------------------- exports


def test_selection_exports_csv_and_fasta(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGU"), 12)) for _ in ids]
    pool = SequenceSet.from_sequences(sequences, ids, molecule="rna")
    selection = selector.to_selection(ids)
    table = pd.read_csv(selection.to_csv(tmp_path / "coreset.csv"))
    assert list(table.columns) == ["index", "id"]
    np.testing.assert_array_equal(table["index"], selection.indices)
    assert table["id"].tolist() == list(selection.ids)
    for name, source in (
        ("set.fasta", pool),
        ("map.fa.gz", dict(zip(ids, sequences, strict=True))),
    ):
        written = read_sequences(selection.to_fasta(tmp_path / name, source), molecule="rna")
        assert written.ids == list(selection.ids)
        assert written.sequences == [sequences[i] for i in selection.indices]


def test_fasta_export_by_id_from_a_reordered_set(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    sequences = {name: "ACGU" * (i + 1) for i, name in enumerate(ids)}
    shuffled = list(reversed(ids))
    pool = SequenceSet.from_sequences([sequences[i] for i in shuffled], shuffled, molecule="rna")
    selection = selector.to_selection(ids)
    written = read_sequences(selection.to_fasta(tmp_path / "c.fasta", pool), molecule="rna")
    assert written.sequences == [sequences[i] for i in selection.ids]


def test_fasta_export_names_a_missing_sequence(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    selection = selector.to_selection(ids)
    partial = {name: "ACGU" for name in ids if name != selection.ids[0]}
    with pytest.raises(InputError, match=f"first: '{selection.ids[0]}'"):
        selection.to_fasta(tmp_path / "c.fasta", partial)


def test_selection_without_ids_exports_from_the_pool_in_order(tmp_path) -> None:
    selector, ids = fitted_cci(n_total=30)
    pool = SequenceSet.from_sequences(["ACGU" * (i + 1) for i in range(30)], ids, molecule="rna")
    selection = selector.to_selection()
    assert selection.ids is None
    written = read_sequences(selection.to_fasta(tmp_path / "c.fasta", pool), molecule="rna")
    assert written.ids == [ids[i] for i in selection.indices]
    with pytest.raises(ValueError, match="no ids"):
        selection.to_fasta(tmp_path / "d.fasta", {name: "ACGU" for name in ids})
    assert Selection.load(selection.save(tmp_path / "noids.json")) == selection


# ------------------------------------------ hand-edited selections (issue 15)


@pytest.fixture
def saved_in_run(tmp_path):
    """A run directory of 120 scores with a saved Top-I selection of 10, and its manifest."""
    from support.selection import make_run

    from biocoreset_viz.selection import select_from_run

    run_dir, _ = make_run(tmp_path)
    select_from_run(run_dir, "topi", n_select=10, name="good")
    return run_dir, read_json(run_dir / "selections" / "good.json")


def _edited(payload, **changes):
    return {**payload, **changes}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda p: _edited(p, indices=p["indices"][:-1] + [127]),
            r"1 indices outside the pool \[0, 120\) \(first: 127\)",
        ),
        (lambda p: _edited(p, indices=[-3] + p["indices"][1:]), r"outside the pool .*first: -3"),
        (
            lambda p: _edited(p, indices=[p["indices"][0]] * 2 + p["indices"][2:]),
            "1 repeated indices",
        ),
        (lambda p: _edited(p, ids=p["ids"][::-1]), "10 ids do not match the run's ids"),
        (lambda p: _edited(p, ids=p["ids"][:-1]), "9 ids for 10 indices"),
        (lambda p: _edited(p, n=999), "n=999 is larger than the pool"),
        (lambda p: _edited(p, n=9), "n=9 but the selection lists 10 indices"),
        (lambda p: _edited(p, n_total=400), "made on a pool of 400, but the run holds 120"),
        (
            lambda p: _edited(p, indices=[float(i) for i in p["indices"]]),
            "indices must be integers",
        ),
        (lambda p: _edited(p, method="best"), "unknown method 'best'"),
        (lambda p: {k: v for k, v in p.items() if k != "name"}, "the field 'name' is missing"),
        (lambda p: [p], "expected a JSON object at the top level, found a list"),
    ],
)
def test_a_hand_edited_selection_is_refused_with_one_line(saved_in_run, edit, message) -> None:
    from biocoreset_viz.runs import write_json

    run_dir, payload = saved_in_run
    write_json(run_dir / "selections" / "edited.json", edit(payload))
    with pytest.raises(RunDirectoryError, match=message) as caught:
        Selection.load(run_dir, "edited")
    assert "\n" not in str(caught.value)


def test_a_deeply_nested_selection_file_is_refused(saved_in_run) -> None:
    run_dir, _ = saved_in_run
    (run_dir / "selections" / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(RunDirectoryError, match="nested too deeply"):  # was RecursionError
        Selection.load(run_dir, "deep")


def test_evaluate_refuses_a_hand_edited_selection_instead_of_training_on_part(
    saved_in_run,
) -> None:
    from biocoreset_viz.evaluation.config import EvaluationConfig
    from biocoreset_viz.evaluation.subsets import draw_subset
    from biocoreset_viz.runs import write_json

    run_dir, payload = saved_in_run
    write_json(run_dir / "selections" / "edited.json", _edited(payload, indices=[500] * 10))
    with pytest.raises(RunDirectoryError, match="outside the pool"):
        draw_subset(
            "edited",
            0,
            scores=np.zeros(120),
            pretrain=np.arange(120),
            config=EvaluationConfig(),
            run_dir=run_dir,
        )


def test_indices_given_out_of_order_are_sorted_with_their_ids(saved_in_run) -> None:
    from biocoreset_viz.runs import write_json

    run_dir, payload = saved_in_run
    shuffled = _edited(payload, indices=payload["indices"][::-1], ids=payload["ids"][::-1])
    write_json(run_dir / "selections" / "shuffled.json", shuffled)
    assert Selection.load(run_dir, "shuffled").indices.tolist() == payload["indices"]
