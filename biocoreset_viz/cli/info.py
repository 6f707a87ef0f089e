"""``biocoreset info PATH``: count, lengths, alphabet, duplicates and molecule of a file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="statistics of a sequence file",
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
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.sequences import read_sequences

    sequences = read_sequences(args.path, molecule=args.molecule, format=args.format)
    print(f"file               {args.path}")
    for line in sequences.stats().lines():
        print(line)
    return 0
