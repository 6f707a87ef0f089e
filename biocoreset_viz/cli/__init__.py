"""The ``biocoreset`` command line.

Each subcommand lives in its own module of this package, exposing
``register(subparsers)`` (which starts with :func:`add_command`); heavy imports
happen inside the command, so ``--help`` is instant. A command raises the
project's errors and never prints them itself: :func:`main` prints every
:class:`~biocoreset_viz.errors.BiocoresetError` as one line,
``biocoreset COMMAND: error: MESSAGE``, and exits with status 2. Output cut short
by its reader (``biocoreset info FILE | head -1``) ends the command quietly, with
the status of a process stopped by SIGPIPE (141), as other command-line tools do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from biocoreset_viz import __version__
from biocoreset_viz.errors import BiocoresetError

# subcommand modules, in the order `biocoreset --help` lists them
COMMANDS = ("info", "demo", "score", "select", "evaluate", "serve", "models")
BROKEN_PIPE_STATUS = 128 + 13  # 128 + SIGPIPE


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    summary: str,
    description: str,
    epilog: str | None = None,
) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``, whose ``run(args)`` :func:`main` calls.

    Args:
        summary: one line for ``biocoreset --help``.
        description: the paragraph of ``biocoreset NAME --help``.
        epilog: text after the options in ``biocoreset NAME --help``.
    """
    parser = subparsers.add_parser(name, help=summary, description=description, epilog=epilog)
    parser.set_defaults(run=run)
    return parser


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
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return status
    except BiocoresetError as error:
        print(f"biocoreset {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"biocoreset {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE_STATUS


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of output
    nobody reads any more raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass


if __name__ == "__main__":
    sys.exit(main())
