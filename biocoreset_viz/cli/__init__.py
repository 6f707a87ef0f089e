"""The ``biocoreset`` command line.

Each subcommand lives in its own module of this package, exposing
``register(subparsers)``; heavy imports happen inside the command, so ``--help``
is instant. Errors caused by the input print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from biocoreset_viz import __version__
from biocoreset_viz.errors import BiocoresetError

# subcommand modules, in the order `biocoreset --help` lists them
COMMANDS = ("info", "demo", "score", "select", "evaluate", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="biocoreset",
        description="Influence-guided data pruning of RNA and protein sequence datasets.",
    )
    parser.add_argument("--version", action="version", version=f"biocoreset {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"biocoreset_viz.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BiocoresetError as error:
        print(f"biocoreset {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"biocoreset {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
