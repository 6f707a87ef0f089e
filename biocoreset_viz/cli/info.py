"""``biocoreset info PATH``: count, lengths, alphabet, duplicates and molecule of a file.

Duplicates are reported with the command-line option that drops them
(``biocoreset score --collapse-duplicates``).
"""

from __future__ import annotations

import argparse

from biocoreset_viz.cli import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "info",
        run,
        summary="statistics of a sequence file",
        description="Print the record count, length distribution, alphabet, exact "
        "duplicates and molecule of a FASTA, CSV/TSV or plain sequence file.",
    )
    parser.add_argument(
        "path", help="FASTA (.fa .fasta .faa .fna), CSV/TSV or plain text, gzip too"
    )
    parser.add_argument(
        "--molecule",
        choices=("auto", "rna", "protein"),
        default="auto",
        help="molecule type (default: detected from the letters)",
    )
    parser.add_argument(
        "--format",
        choices=("fasta", "csv", "tsv", "plain"),
        help="override the format from the suffix",
    )


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.sequences import read_sequences

    sequences = read_sequences(args.path, molecule=args.molecule, format=args.format)
    stats = sequences.stats()
    print(f"file               {args.path}")
    for line in stats.lines():
        if line.startswith("duplicate records"):  # the command-line way to drop them
            line = (
                f"duplicate records  {stats.duplicate_records:,} (exact copies of an earlier "
                "record; `biocoreset score --collapse-duplicates` scores one copy of each)"
            )
        print(line)
    return 0
