"""The `biocoreset` command line: statistics, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from biocoreset_viz.cli import build_parser, main


def _corrupt_gzip() -> bytes:
    import gzip

    data = bytearray(gzip.compress(b">a\nACGUACGUAGCUAGCUAGCUAGCUGAUCGAUCGAUGCUAGC\n" * 500))
    for k in range(8):
        data[20 + k] ^= 0x5A  # inside the first deflate block: zlib.error
    return bytes(data)


CORRUPT_GZIP = _corrupt_gzip()


def test_info_prints_correct_statistics(tmp_path, capsys):
    path = tmp_path / "a.fa"
    path.write_text(">a\nACGU\n>b\nacguac\n>c\nACGU\n")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "records            3" in out
    assert "molecule           rna" in out
    assert "length min/median/mean/max  4 / 4 / 4.7 / 6" in out
    assert "alphabet           ACGU" in out
    assert "duplicate records  1" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"", "empty file"),
        (b"id,sequence\n", "no sequence records found"),
        (b"ACGU\n>a\nACGU\n", "text before the first '>'"),
        (b">a\nAC#U\n", "invalid rna characters '#'"),
        (b">a\n>b\nACGU\n", "empty sequence"),
        (b">a\nACGU\n>a\nACGU\n", "duplicate id"),
        (b">a\n\x00\x01\x02\n", "binary content"),
        (b">a\nAC\xe9GU\n", "not UTF-8"),
        (CORRUPT_GZIP, "corrupt gzip data: Error -3"),  # was a zlib.error traceback
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / ("input.csv" if content == b"id,sequence\n" else "input.fa")
    if content is not None:
        path.write_bytes(content)
    assert main(["info", str(path), "--molecule", "rna"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("biocoreset info: error: ")
    assert expected in err
    assert err.count("\n") == 1


def test_protein_passed_as_rna_exits_2(tmp_path, capsys):
    path = tmp_path / "p.faa"
    path.write_text(">p\nMKTLLVAGHEPQ\n")
    assert main(["info", str(path), "--molecule", "rna"]) == 2
    assert "looks like a protein" in capsys.readouterr().err


def test_every_subcommand_has_help():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices
    for name, sub in subcommands.items():
        assert sub.format_help().startswith(f"usage: biocoreset {name}")


def test_console_script_runs_as_a_process(tmp_path):
    path = tmp_path / "a.fa"
    path.write_text(">a\nMKTL\n")
    done = subprocess.run(
        [sys.executable, "-m", "biocoreset_viz", "info", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "molecule           protein" in done.stdout


def test_output_cut_short_by_head_ends_quietly(tmp_path):
    """``biocoreset info FILE | head -1`` (issue 15): was a BrokenPipeError traceback."""
    path = tmp_path / "a.fa"
    path.write_text("".join(f">r{i}\nACGUACGU\n" for i in range(50)))
    command = [sys.executable, "-m", "biocoreset_viz", "info", str(path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before the output comes, as head's may be
    _, err = process.communicate(timeout=120)
    assert err == b""
    assert process.returncode == 141


def test_an_unreadable_file_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    from support.permissions import make_unreadable

    path = tmp_path / "secret.fa"
    path.write_text(">a\nACGU\n")
    make_unreadable(path, monkeypatch)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err  # was a PermissionError traceback
    assert err == f"biocoreset info: error: {path}: cannot open: Permission denied\n"
