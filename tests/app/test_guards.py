"""The served dashboard's guards: uploads are limited and validated, runs stay inside the root."""

from __future__ import annotations

import pytest

from biocoreset_viz.app.guards import (
    MAX_UPLOAD_BYTES,
    UPLOAD_SUFFIXES,
    read_uploaded_ids,
    resolve_run_dir,
    size_text,
    upload_too_large,
)
from biocoreset_viz.errors import InputError, RunDirectoryError
from biocoreset_viz.sequences import CSV_SUFFIXES, FASTA_SUFFIXES, TSV_SUFFIXES


def test_uploads_are_size_limited_in_the_words_the_page_uses() -> None:
    with pytest.raises(InputError, match=r"^big\.fasta: file is 0\.1 kB; uploads are limited to"):
        read_uploaded_ids(b">a\nACGU\n" * 10, "big.fasta", max_bytes=20)
    assert MAX_UPLOAD_BYTES == 5_000_000 and size_text(MAX_UPLOAD_BYTES) == "5 MB"
    assert str(upload_too_large("x.fa", 5_200_000)) == (
        "x.fa: file is 5.2 MB; uploads are limited to 5 MB"
    )
    read_uploaded_ids(b">a\n" + b"A" * (MAX_UPLOAD_BYTES - 4), "limit.fasta")  # exactly 5 MB


def test_an_ids_only_csv_is_read_as_ids(run_dir) -> None:
    # the dashboard's own "Ids (CSV)" export, an id column alone, and quoted fields
    assert read_uploaded_ids(b"index,id\n3,rna0003\n7,rna0007\n", "coreset.csv") == [
        "rna0003",
        "rna0007",
    ]
    assert read_uploaded_ids(b"id\nx\ny\n", "ids.csv") == ["x", "y"]
    assert read_uploaded_ids(b'id,note\n"a,b","x\ny"\n', "quoted.csv") == ["a,b"]
    assert read_uploaded_ids(b"id\tfamily\nq\tF\n", "mine.tsv") == ["q"]
    with pytest.raises(InputError, match=r"^notes\.csv:1: no id column"):
        read_uploaded_ids(b"colour,size\nred,3\n", "notes.csv")


def test_uploads_of_other_file_types_are_refused() -> None:
    with pytest.raises(InputError, match=r"notes\.exe: unsupported file type"):
        read_uploaded_ids(b"MZ\x00\x00", "notes.exe")


def test_uploads_are_validated_by_the_sequence_reader_and_name_the_upload() -> None:
    with pytest.raises(InputError, match=r"^bad\.fasta:1: binary content") as error:
        read_uploaded_ids(b">a\x00\nACGU\n", "../../bad.fasta")
    assert "biocoreset-upload" not in str(error.value)  # never the temporary path
    with pytest.raises(InputError, match=r"^dup\.fasta:3: duplicate id"):
        read_uploaded_ids(b">a\nACGU\n>a\nACGU\n", "dup.fasta")


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


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("mine.fasta", b">a\nACGU\n"),
        ("MINE.FA", b">a\nACGU\n"),
        ("mine.csv", b"id,sequence\na,ACGU\n"),
        ("mine.tsv", b"id\tsequence\na\tACGU\n"),
    ],
)
def test_uploads_are_read_by_their_suffix(name, content) -> None:
    assert read_uploaded_ids(content, name) == ["a"]


def test_the_upload_suffixes_are_the_sequence_readers() -> None:
    assert set(UPLOAD_SUFFIXES) == FASTA_SUFFIXES | CSV_SUFFIXES | TSV_SUFFIXES
