"""Readers, normalisation, validation and the one-line errors of biocoreset_viz.sequences."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.sequences import (
    ALPHABETS,
    FASTA_SUFFIXES,
    SequenceSet,
    detect_molecule,
    escape_fasta_id,
    infer_format,
    invalid_characters,
    iter_sequences,
    normalize_sequence,
    read_ids,
    read_sequences,
    sequences_for_ids,
    unescape_fasta_id,
    write_fasta_records,
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


def test_fasta_into_a_file_object_equals_the_file(tmp_path):
    records = [("a", "ACGU" * 50), ("b", "GG"), ("c", "U" * 80)]
    path = write_fasta_records(tmp_path / "out.fa", records, line_width=60)
    binary, text = io.BytesIO(), io.StringIO()
    assert write_fasta_records(binary, records, line_width=60) is binary
    assert write_fasta_records(text, records, line_width=60) is text
    assert binary.getvalue() == path.read_bytes() == text.getvalue().encode()
    assert path.read_text().splitlines()[:6] == [">a", *["ACGU" * 15] * 3, "ACGU" * 5, ">b"]
    seqs = SequenceSet.from_sequences([s for _, s in records], [i for i, _ in records])
    into = io.BytesIO()
    assert seqs.write_fasta(into, line_width=60) is into
    assert into.getvalue() == binary.getvalue()
    gz = write_fasta_records(tmp_path / "out.fa.gz", records, line_width=60)
    assert gzip.decompress(gz.read_bytes()) == binary.getvalue()


def test_every_fasta_suffix_is_read_as_fasta():
    for suffix in FASTA_SUFFIXES:
        assert infer_format(f"x{suffix}") == infer_format(f"x{suffix.upper()}.gz") == "fasta"


# ---------------------------------------------------------------- sequences of ids


def test_sequences_for_ids_in_id_order_from_a_set_or_a_mapping():
    pool = SequenceSet.from_sequences(["AC", "GU", "AA"], ["a", "b", "c"], molecule="rna")
    assert sequences_for_ids(["a", "b", "c"], pool) == ["AC", "GU", "AA"]
    assert sequences_for_ids(["c", "a"], pool) == ["AA", "AC"]
    assert sequences_for_ids(["b", "a"], {"a": "AC", "b": "GU"}) == ["GU", "AC"]
    assert sequences_for_ids(np.array(["b"], dtype=object), pool) == ["GU"]


def test_missing_ids_name_the_source_and_the_first_missing():
    pool = SequenceSet.from_sequences(["AC", "GU"], ["a", "b"], molecule="rna", source="pool.fa")
    with pytest.raises(
        InputError, match=r"^pool\.fa: 2 scored ids have no sequence \(first: 'x'\)"
    ):
        sequences_for_ids(["x", "a", "y"], pool, role="scored")
    with pytest.raises(InputError, match=r"^<input>: 1 selected ids have no sequence"):
        sequences_for_ids(["a", "c"], {"a": "AC", "b": "GU"}, role="selected")
    with pytest.raises(TypeError, match="SequenceSet or a mapping"):
        sequences_for_ids(["a"], ["AC"])


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


def test_bad_arguments_are_config_errors_and_bad_data_input_errors(tmp_path):
    with pytest.raises(ConfigError, match="molecule must be"):
        SequenceSet.from_sequences(["ACGU"], molecule="dna")
    with pytest.raises(ConfigError, match="format must be fasta, csv, tsv or plain"):
        read_sequences(write(tmp_path, "a.fa", ">a\nACGU\n"), format="genbank")
    with pytest.raises(InputError, match="2 ids for 1 sequences"):
        SequenceSet.from_sequences(["ACGU"], ["a", "b"])
    with pytest.raises(InputError, match="duplicate id"):
        SequenceSet.from_sequences(["ACGU", "GG"], ["a", "a"])


def test_in_memory_sequences_are_validated():
    with pytest.raises(InputError, match=r"<input>: invalid rna characters 'Z'"):
        SequenceSet.from_sequences(["ACGZ"], molecule="rna")


# ------------------------------------------- input quirks and hostile input (issue 15)

HOSTILE_IDS = [
    '<iframe src="x">',
    "a b c",
    "tab\there",
    "comma,id",
    'quote"id',
    "new\nline",
    "cr\rreturn",
    ">gt",
    "50%GC",
    "a%20b",
    "ünï cödé",
    "\x1b[31mred",
    "=cmd|' /C calc'!A0",
]


def test_a_utf8_byte_order_mark_is_skipped_in_fasta_and_csv(tmp_path):
    fasta = tmp_path / "bom.fa"
    fasta.write_text(">a\nACGU\n>b\nGG\n", encoding="utf-8-sig")
    assert read_sequences(fasta).ids == ["a", "b"]  # was: "text before the first '>'"
    table = tmp_path / "bom.csv"
    table.write_text("id,sequence,family\nx,ACGU,tRNA\n", encoding="utf-8-sig")
    seqs = read_sequences(table)
    assert seqs.ids == ["x"]  # was: ids seq1 ... and a label column "\ufeffid"
    assert seqs.labels.columns.tolist() == ["family"]


def test_csv_follows_rfc_4180_quoted_commas_quotes_and_line_breaks(tmp_path):
    text = (
        "id,sequence,family\n"
        'x,ACGU,"tRNA, class II"\n'
        '"y ""quoted""",GGCC,"two\nlines"\n'
        "\n"
        "z,AAAA,5S\n"
    )
    path = write(tmp_path, "rfc.csv", text)
    seqs = read_sequences(path)
    assert seqs.ids == ["x", 'y "quoted"', "z"]
    assert seqs.labels["family"].tolist() == ["tRNA, class II", "two\nlines", "5S"]
    assert [r.line for r in iter_sequences(path)] == [2, 3, 6]  # where each record starts


def test_an_unclosed_quote_is_a_one_line_error_naming_the_line(tmp_path):
    path = write(tmp_path, "bad.csv", 'id,sequence\nx,ACGU\n"y,GG\n')
    with pytest.raises(InputError, match=r"bad.csv:3: malformed CSV"):
        read_sequences(path)


def test_a_tab_ends_the_fasta_id(tmp_path):
    path = write(tmp_path, "tabs.fa", ">r1\tfirst one\nACGU\n>r2 \t second\nGG\n")
    records = list(iter_sequences(path))
    assert [r.id for r in records] == ["r1", "r2"]
    assert [r.description for r in records] == ["first one", "second"]


def test_digits_in_an_rna_file_are_invalid_rna_characters_not_a_protein(tmp_path):
    numbered = "UUAAUGAGAA 10 UAAAUCAGGU 20 UAUUAUGUUG 30 GAUGUAAUAA 40\n"
    path = write(tmp_path, "numbered.fa", ">r1\n" + numbered)
    assert detect_molecule([numbered]) == "rna"
    with pytest.raises(InputError, match=r"invalid rna characters '0' '1' '2' '3' '4'.*digits"):
        read_sequences(path)  # was: "invalid protein characters" (re-detected as protein)


def test_corrupt_gzip_data_is_a_one_line_error(tmp_path):
    data = bytearray(gzip.compress(b">a\nACGUACGUAGCUAGCUAGCUAGCUGAUCGAUCGAUGCUAGCUAGC\n" * 500))
    for k in range(8):
        data[20 + k] ^= 0x5A  # the deflate block header: zlib.error, not BadGzipFile
    path = tmp_path / "corrupt.fa.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"corrupt.fa.gz: corrupt gzip data: Error -3"):
        read_sequences(path)


def test_an_unreadable_file_is_a_one_line_error(tmp_path, monkeypatch):
    from support.permissions import make_unreadable

    path = write(tmp_path, "secret.fa", ">a\nACGU\n")
    make_unreadable(path, monkeypatch)
    with pytest.raises(InputError, match=r"secret.fa: cannot open: Permission denied"):
        read_sequences(path)


def test_fasta_written_from_hostile_ids_reads_back_under_escaped_ids(tmp_path):
    sequences = ["ACGU", "GGCC", "AAAA", "CCCC", "UUUU", "GAGA", "CUCU"] * 2
    pool = SequenceSet.from_sequences(sequences[: len(HOSTILE_IDS)], HOSTILE_IDS, molecule="rna")
    for target in (tmp_path / "out.fa", tmp_path / "out.fa.gz"):
        pool.write_fasta(target)
        back = read_sequences(target)
        assert back.ids == [escape_fasta_id(i) for i in HOSTILE_IDS]
        assert [unescape_fasta_id(i) for i in back.ids] == HOSTILE_IDS
        assert back.sequences == pool.sequences
    assert escape_fasta_id("seq1") == "seq1" and escape_fasta_id("50%GC") == "50%GC"
    assert escape_fasta_id("a b") == "a%20b" and escape_fasta_id("a%20b") == "a%2520b"


def test_fasta_can_refuse_ids_it_would_have_to_escape(tmp_path):
    pool = SequenceSet.from_sequences(["ACGU", "GG"], ["fine", "not fine"], molecule="rna")
    with pytest.raises(InputError, match=r"out.fa: .*FASTA header cannot hold.*record 'not fine'"):
        pool.write_fasta(tmp_path / "out.fa", unsafe_ids="refuse")
    assert not list(tmp_path.iterdir())  # no half-written file left
    with pytest.raises(ConfigError, match="line_width"):
        pool.write_fasta(io.StringIO(), line_width=0)


def test_read_ids_reads_an_ids_only_csv_with_hostile_ids(tmp_path):
    import csv

    path = tmp_path / "ids.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "id"])
        writer.writerows(enumerate(HOSTILE_IDS))
    assert read_ids(path) == HOSTILE_IDS
    with pytest.raises(InputError, match="no id column"):
        read_ids(write(tmp_path, "x.csv", "index,score\n0,1\n"))
