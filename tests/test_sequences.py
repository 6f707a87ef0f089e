"""Readers, normalisation, validation and the one-line errors of biocoreset_viz.sequences."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from biocoreset_viz.errors import InputError
from biocoreset_viz.sequences import (
    ALPHABETS,
    SequenceSet,
    detect_molecule,
    infer_format,
    invalid_characters,
    iter_sequences,
    normalize_sequence,
    read_sequences,
)


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- normalisation


def test_normalize_rna_uppercases_converts_t_and_removes_gaps():
    assert normalize_sequence("ac-gt.u\tN ", "rna") == "ACGUUN"


def test_normalize_protein_strips_trailing_stops_and_keeps_t():
    assert normalize_sequence("mkt-lv**", "protein") == "MKTLV"


def test_stop_inside_a_protein_is_invalid():
    assert invalid_characters(normalize_sequence("MK*LV", "protein"), "protein") == ["*"]


def test_alphabets_hold_standard_letters_and_documented_ambiguity_codes():
    assert set("ACGU") | set("RYSWKMBDHVN") == ALPHABETS["rna"]
    assert len(ALPHABETS["protein"]) == 26
    assert {"X", "B", "Z", "J", "U", "O"} <= ALPHABETS["protein"]


@pytest.mark.parametrize(
    ("sequences", "expected"),
    [
        (["ACGUACGU", "GGCC"], "rna"),
        (["ACGTTGCA"], "rna"),
        (["MKTLLVAGHE", "PQRSTW"], "protein"),
        (["ACGUNNNN-"], "rna"),
    ],
)
def test_detect_molecule(sequences, expected):
    assert detect_molecule(sequences) == expected


def test_infer_format_ignores_gz_and_case():
    assert infer_format("x.FASTA.gz") == "fasta"
    assert infer_format("x.faa") == "fasta"
    assert infer_format("x.tsv") == "tsv"
    assert infer_format("x.seqs") is None


# ---------------------------------------------------------------- formats


def test_fasta_multiline_records_descriptions_and_comments(tmp_path):
    path = write(tmp_path, "a.fa", ";comment\n>r1 first one\nACG\nuu\n\n>r2\nGGG\n")
    seqs = read_sequences(path)
    assert seqs.ids == ["r1", "r2"]
    assert seqs.sequences == ["ACGUU", "GGG"]
    assert seqs.molecule == "rna"
    records = list(iter_sequences(path))
    assert records[0].description == "first one"
    assert records[1].line == 6


def test_gzip_is_detected_from_content_not_name(tmp_path):
    path = tmp_path / "plain_name.fasta"
    path.write_bytes(gzip.compress(b">x\nMKV\n"))
    assert read_sequences(path, molecule="protein").sequences == ["MKV"]


def test_csv_with_labels(tmp_path):
    path = write(tmp_path, "a.csv", "id,sequence,family\nx,ACGU,tRNA\ny,GGCC,5S\n")
    seqs = read_sequences(path)
    assert seqs.ids == ["x", "y"]
    assert seqs.labels["family"].tolist() == ["tRNA", "5S"]


def test_tsv_without_id_column_gets_numbered_ids(tmp_path):
    path = write(tmp_path, "a.tsv", "Sequence\tcluster\nACGU\t1\nGG\t2\n")
    seqs = read_sequences(path)
    assert seqs.ids == ["seq1", "seq2"]
    assert seqs.labels["cluster"].tolist() == ["1", "2"]


def test_plain_one_sequence_per_line(tmp_path):
    path = write(tmp_path, "a.txt", "acgu\n\nGGCA\n")
    seqs = read_sequences(path)
    assert seqs.ids == ["seq1", "seq2"]
    assert seqs.sequences == ["ACGU", "GGCA"]


def test_unknown_suffix_is_sniffed(tmp_path):
    assert read_sequences(write(tmp_path, "a.dat", ">a\nACGU\n")).ids == ["a"]
    assert read_sequences(write(tmp_path, "b.dat", "id,sequence\nq,ACGU\n")).ids == ["q"]


def test_streaming_reads_lazily(tmp_path):
    path = write(
        tmp_path, "a.fa", ">a\nACGU\n>b\nGGG\n>c\n\n"
    )  # c is empty: fails only when reached
    reader = iter_sequences(path, molecule="rna")
    iterator = iter(reader)
    assert next(iterator).id == "a"
    assert next(iterator).id == "b"
    with pytest.raises(InputError, match="empty sequence"):
        next(iterator)


def test_streaming_molecule_is_detected_before_iteration(tmp_path):
    reader = iter_sequences(write(tmp_path, "p.fa", ">p\nMKTLLVAGHE\n"))
    assert reader.molecule == "protein"
    assert [r.sequence for r in reader] == ["MKTLLVAGHE"]


def test_duplicates_are_counted_and_collapsed(tmp_path):
    path = write(tmp_path, "a.fa", ">a\nACGU\n>b\nGG\n>c\nacgt\n>d\nACGU\n")
    seqs = read_sequences(path)
    assert seqs.stats().duplicate_records == 2
    np.testing.assert_array_equal(seqs.duplicate_groups(), [0, 1, 0, 0])
    collapsed = read_sequences(path, collapse_duplicates=True)
    assert collapsed.ids == ["a", "b"]
    assert collapsed.labels["copies"].tolist() == [3, 1]


def test_stats_are_correct():
    seqs = SequenceSet.from_sequences(["ACGU", "AC", "ACGUAC"], molecule="rna")
    stats = seqs.stats()
    assert (stats.count, stats.length_min, stats.length_max) == (3, 2, 6)
    assert stats.length_median == 4
    assert stats.composition["A"] == pytest.approx(4 / 12)


def test_subset_keeps_labels_in_order(tmp_path):
    path = write(tmp_path, "a.csv", "id,sequence,family\nx,ACGU,f1\ny,GGCC,f2\nz,AAA,f3\n")
    sub = read_sequences(path).subset([2, 0])
    assert sub.ids == ["z", "x"]
    assert sub.labels["family"].tolist() == ["f3", "f1"]


def test_write_fasta_round_trips(tmp_path):
    seqs = SequenceSet.from_sequences(["ACGU" * 50, "GG"], ids=["a", "b"], molecule="rna")
    back = read_sequences(seqs.write_fasta(tmp_path / "out.fa.gz"))
    assert (back.ids, back.sequences) == (seqs.ids, seqs.sequences)


# ---------------------------------------------------------------- bad input: one line, file/line/record


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.fa: no such file"):
        read_sequences(tmp_path / "missing.fa")


def test_empty_file(tmp_path):
    with pytest.raises(InputError, match=r"empty\.fa: empty file"):
        read_sequences(write(tmp_path, "empty.fa", ""))


def test_blank_file(tmp_path):
    with pytest.raises(InputError, match=r"empty file \(only blank lines\)"):
        read_sequences(write(tmp_path, "blank.fa", "\n  \n"))


def test_no_records(tmp_path):
    with pytest.raises(InputError, match="no sequence records found"):
        read_sequences(write(tmp_path, "header.csv", "id,sequence\n"))


def test_text_before_first_header(tmp_path):
    with pytest.raises(InputError, match=r"a\.fa:1: text before the first '>' header: 'ACGU'"):
        read_sequences(write(tmp_path, "a.fa", "ACGU\n>a\nACGU\n"))


def test_invalid_characters_are_listed_with_location(tmp_path):
    path = write(tmp_path, "a.fa", ">ok\nACGU\n>bad\nAC1G$U\n")
    with pytest.raises(InputError) as info:
        read_sequences(path, molecule="rna")
    message = str(info.value)
    assert message.startswith(f"{path}:3: invalid rna characters '$' '1'")
    assert message.endswith("(record 'bad')")
    assert "\n" not in message


def test_empty_sequence(tmp_path):
    with pytest.raises(InputError, match=r":1: empty sequence \(record 'a'\)"):
        read_sequences(write(tmp_path, "a.fa", ">a\n>b\nACGU\n"))


def test_gap_only_sequence_is_empty(tmp_path):
    with pytest.raises(InputError, match="empty sequence"):
        read_sequences(write(tmp_path, "a.fa", ">a\n---..\n"))


def test_duplicate_ids(tmp_path):
    with pytest.raises(InputError, match=r":3: duplicate id \(record 'a'\)"):
        read_sequences(write(tmp_path, "a.fa", ">a\nACGU\n>a\nGGCC\n"))


def test_binary_content(tmp_path):
    with pytest.raises(InputError, match="binary content"):
        read_sequences(write(tmp_path, "a.fa", b">a\nAC\x00\x01GU\n"))


def test_non_utf8_content(tmp_path):
    with pytest.raises(InputError, match=r"a\.fa:2: not UTF-8"):
        read_sequences(write(tmp_path, "a.fa", b">a\nAC\xff\xfeGU\n"))


def test_protein_file_passed_as_rna(tmp_path):
    path = write(tmp_path, "p.faa", ">p1\nMKTLLVAGHEPQ\n")
    with pytest.raises(InputError, match="this looks like a protein sequence"):
        read_sequences(path, molecule="rna")


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(b">a\nACGU\n" * 100)
    with pytest.raises(InputError, match="corrupt gzip data"):
        read_sequences(write(tmp_path, "a.fa.gz", data[: len(data) // 2]))


def test_csv_without_sequence_column(tmp_path):
    with pytest.raises(InputError, match="no sequence column"):
        read_sequences(write(tmp_path, "a.csv", "id,seqq\na,ACGU\n"))


def test_csv_ragged_row(tmp_path):
    with pytest.raises(InputError, match=r"a\.csv:3: 1 fields where the header has 2"):
        read_sequences(write(tmp_path, "a.csv", "id,sequence\na,ACGU\nb\n"))


def test_header_without_name(tmp_path):
    with pytest.raises(InputError, match="header line without a record name"):
        read_sequences(write(tmp_path, "a.fa", ">\nACGU\n"))


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_sequences(tmp_path)


def test_bad_molecule_argument(tmp_path):
    with pytest.raises(ValueError, match="molecule must be"):
        read_sequences(write(tmp_path, "a.fa", ">a\nACGU\n"), molecule="dna")


def test_in_memory_sequences_are_validated():
    with pytest.raises(InputError, match=r"<input>: invalid rna characters 'Z'"):
        SequenceSet.from_sequences(["ACGZ"], molecule="rna")
