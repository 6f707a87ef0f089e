"""Exports to a path or a binary file object: the same bytes either way, gzip by suffix."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from support.selection import fitted_cci

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.runs import write_json
from biocoreset_viz.selection import Selection, TopInfluence
from biocoreset_viz.sequences import SequenceSet, read_ids, read_sequences, unescape_fasta_id


@pytest.fixture
def selection_and_pool() -> tuple[Selection, SequenceSet]:
    selector, ids = fitted_cci(n_total=60)
    rng = np.random.default_rng(1)
    sequences = ["".join(rng.choice(list("ACGU"), 100 + i)) for i in range(len(ids))]
    pool = SequenceSet.from_sequences(sequences, ids, molecule="rna")
    return selector.to_selection(ids, name="coreset"), pool


def test_fasta_into_a_file_object_equals_the_file(tmp_path, selection_and_pool) -> None:
    selection, pool = selection_and_pool
    buffer = io.BytesIO()
    assert selection.to_fasta(buffer, pool) is buffer
    path = selection.to_fasta(tmp_path / "coreset.fasta", pool)
    assert path == tmp_path / "coreset.fasta"
    assert buffer.getvalue() == path.read_bytes()
    assert buffer.getvalue().startswith(f">{selection.ids[0]}\n".encode())


def test_csv_into_a_file_object_equals_the_file(tmp_path, selection_and_pool) -> None:
    selection, _ = selection_and_pool
    buffer = io.BytesIO()
    assert selection.to_csv(buffer) is buffer
    assert buffer.getvalue() == selection.to_csv(tmp_path / "coreset.csv").read_bytes()
    lines = buffer.getvalue().decode().splitlines()
    assert lines[0] == "index,id"
    assert lines[1] == f"{selection.indices[0]},{selection.ids[0]}"


def test_json_into_a_file_object_equals_the_file_and_the_run_directory(
    tmp_path, selection_and_pool
) -> None:
    selection, _ = selection_and_pool
    buffer = io.BytesIO()
    assert selection.save(buffer) is buffer
    as_file = selection.save(tmp_path / "coreset.json")
    in_run = selection.save(tmp_path / "run")
    assert in_run == tmp_path / "run" / "selections" / "coreset.json"
    assert buffer.getvalue() == as_file.read_bytes() == in_run.read_bytes()
    # the bytes of every other JSON file of a run directory
    assert buffer.getvalue() == write_json(tmp_path / "w.json", selection.to_dict()).read_bytes()
    assert Selection.load(as_file) == selection


def test_gzip_by_suffix_for_paths_only_and_deterministic(tmp_path, selection_and_pool) -> None:
    selection, pool = selection_and_pool
    plain = io.BytesIO()
    selection.to_fasta(plain, pool)
    first = selection.to_fasta(tmp_path / "a.fa.gz", pool).read_bytes()
    second = selection.to_fasta(tmp_path / "b.fa.gz", pool).read_bytes()
    assert first == second  # no timestamp or file name in the gzip header
    assert gzip.decompress(first) == plain.getvalue()
    assert not plain.getvalue().startswith(b"\x1f\x8b")


def test_a_selection_without_ids_exports_empty_ids_and_the_pool_in_order(
    selection_and_pool,
) -> None:
    selection, pool = selection_and_pool
    anonymous = Selection(
        indices=selection.indices,
        ids=None,
        method=selection.method,
        params=selection.params,
        seed=selection.seed,
        n_total=selection.n_total,
        name="anonymous",
    )
    csv_text = anonymous.to_csv(io.BytesIO()).getvalue().decode()
    assert csv_text.splitlines()[1] == f"{selection.indices[0]},"
    with_ids, without_ids = io.BytesIO(), io.BytesIO()
    selection.to_fasta(with_ids, pool)
    anonymous.to_fasta(without_ids, pool)
    assert with_ids.getvalue() == without_ids.getvalue()


# ------------------------------------------------- exports read back (issue 15)

HOSTILE_IDS = [
    '<iframe src="x"> 0',
    "a b c",
    "tab\there",
    "comma,id",
    'quote"id',
    "new\nline",
    ">gt",
    "a%20b",
    "ünï cödé",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
]


@pytest.fixture
def hostile_selection() -> tuple[Selection, SequenceSet]:
    """A coreset of the whole pool of hostile ids (and ordinary ones around them)."""
    ids = HOSTILE_IDS + [f"plain{i}" for i in range(9)]
    rng = np.random.default_rng(2)
    sequences = ["".join(rng.choice(list("ACGU"), 30 + i)) for i in range(len(ids))]
    pool = SequenceSet.from_sequences(sequences, ids, molecule="rna")
    selector = TopInfluence(pruning_rate=0.0).fit(rng.random(len(ids)))
    return selector.to_selection(ids, name="hostile"), pool


def test_fasta_export_of_hostile_ids_reads_back(tmp_path, hostile_selection) -> None:
    selection, pool = hostile_selection
    path = selection.to_fasta(tmp_path / "coreset.fasta", pool)
    back = read_sequences(path)  # was: "duplicate id" (ids cut at the first space)
    assert [unescape_fasta_id(i) for i in back.ids] == list(selection.ids)
    assert back.sequences == pool.subset(selection.indices).sequences
    with pytest.raises(InputError, match="FASTA header cannot hold"):
        selection.to_fasta(io.BytesIO(), pool, unsafe_ids="refuse")


def test_csv_export_of_hostile_ids_reads_back(tmp_path, hostile_selection) -> None:
    selection, _ = hostile_selection
    path = selection.to_csv(tmp_path / "coreset.csv")
    assert read_ids(path) == list(selection.ids)
    frame = pd.read_csv(path, keep_default_na=False)
    assert frame["id"].tolist() == list(selection.ids)
    np.testing.assert_array_equal(frame["index"], selection.indices)


def test_json_export_of_hostile_ids_reads_back(tmp_path, hostile_selection) -> None:
    selection, _ = hostile_selection
    assert Selection.load(selection.save(tmp_path / "coreset.json")) == selection


def test_an_unwritable_export_path_is_a_one_line_error(tmp_path, selection_and_pool) -> None:
    selection, _ = selection_and_pool
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="cannot write .*file/coreset.csv"):
        selection.to_csv(tmp_path / "file" / "coreset.csv")  # a file where a folder should be
