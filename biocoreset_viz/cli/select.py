"""``biocoreset select RUN_DIR``: choose a coreset from a run's scores and export it.

Example::

    biocoreset select RUN_DIR --method cci --pruning-rate 0.99 --hard-cutoff 0.1 \\
        --strata 50 --seed 0 --out coreset.fasta

The selection is saved as ``RUN_DIR/selections/<name>.json``; ``--out`` also
writes FASTA (``.fa``, ``.fasta`` ..., ``.gz`` too), a CSV of ids (``.csv``) or the
JSON manifest (``.json``). A run that is unfinished or damaged is refused (the
message says how to resume or rescore) unless ``--allow-partial``, which selects
from the rows that are there and records that in the selection. The selector options are the controls of
:data:`biocoreset_viz.selection.controls.CONTROLS` (their names and which methods
they apply to come from there); bad input raises, and ``biocoreset`` prints the
one-line message.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

from biocoreset_viz.cli import add_command
from biocoreset_viz.errors import ConfigError
from biocoreset_viz.selection.controls import CONTROLS, DEFAULT_SEED, in_control_terms

METHOD_HELP = {
    "cci": "Coverage-Centric Influence: hard cutoff, strata, balanced budgets (default)",
    "topi": "Top-k Influence: the largest self-influence",
    "bottomi": "the smallest self-influence (easiest)",
    "random": "uniformly at random",
    "diversity": "embedding diversity: k-means cluster-and-sample or k-center greedy",
    "identity": "MMseqs2 sequence-identity clusters, sampled round-robin",
}


class Argument(NamedTuple):
    """How a control appears here (its option's name comes from CONTROLS).

    ``section``: ``"size"`` (exactly one of the two is required), a method's name
    (that method's options) or ``None`` (general); the rest are argparse keywords.
    """

    section: str | None
    help: str
    type: type | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None


SIZE = "size"
ARGUMENTS: dict[str, Argument] = {
    "pruning_rate": Argument(
        SIZE, "fraction of the pool to remove, in [0, 1); keeps round((1-ALPHA)*N)", float, "ALPHA"
    ),
    "n_select": Argument(SIZE, "coreset size", int, "N"),
    "hard_cutoff": Argument(
        "cci",
        "fraction of the most influential sequences removed first (default 0.1)",
        float,
        "BETA",
    ),
    "n_strata": Argument("cci", "number of strata (default 50)", int, "K"),
    "strata": Argument(
        "cci",
        "equal-width score slices (default) or equal-count quantile strata",
        choices=("equal_width", "quantile"),
    ),
    "random_state": Argument(
        None, f"random seed (default {DEFAULT_SEED}) for cci, random, diversity, identity", int
    ),
    "strategy": Argument(
        "diversity", "k-means (default) or k-center greedy", choices=("kmeans", "kcenter")
    ),
    "n_clusters": Argument("diversity", "k-means clusters (default min(n, 1000))", int),
    "min_seq_id": Argument("identity", "MMseqs2 identity threshold (default 0.8)", float),
    "coverage": Argument("identity", "MMseqs2 alignment coverage (default 0.8)", float),
    "threads": Argument("identity", "MMseqs2 threads (default: all cores)", int),
}


def option_dest(parameter: str) -> str:
    """The argparse attribute of a control's option (``--strata-kind`` -> ``strata_kind``)."""
    return CONTROLS[parameter].option.removeprefix("--").replace("-", "_")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "select",
        run,
        summary="choose a coreset from a run's scores",
        description="Select a coreset from the self-influence scores of a run directory, "
        "save it as RUN_DIR/selections/<name>.json and optionally export it.",
        epilog="methods: " + "; ".join(f"{k}: {v}" for k, v in METHOD_HELP.items()),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory with score shards")
    parser.add_argument(
        "--method", choices=tuple(METHOD_HELP), default="cci", help="selection method (default cci)"
    )
    parser.add_argument(
        "--score",
        default="self_influence",
        metavar="NAME",
        help="the score cci, topi and bottomi rank by: self_influence (default, the paper), "
        "length_adjusted (self-influence over the typical one at that length), loss, "
        "gradient_norm (no Fisher), or <column>_length_adjusted",
    )
    sections: dict[str | None, Any] = {
        None: parser,
        SIZE: parser.add_mutually_exclusive_group(required=True),
    }
    for parameter, control in CONTROLS.items():
        argument = ARGUMENTS[parameter]
        if argument.section not in sections:
            sections[argument.section] = parser.add_argument_group(argument.section)
        keywords = {k: v for k, v in argument._asdict().items() if k != "section" and v}
        sections[argument.section].add_argument(
            control.option, dest=option_dest(parameter), **keywords
        )
    parser.add_argument(
        "--input",
        metavar="FASTA",
        help="the scored sequences (default: the input recorded in the run's manifest); "
        "needed for FASTA output and --method identity",
    )
    parser.add_argument(
        "--out",
        action="append",
        default=[],
        metavar="PATH",
        help="also write the coreset: FASTA (.fa/.fasta/..., .gz too), ids (.csv) or the "
        "manifest (.json); repeatable",
    )
    parser.add_argument("--name", help="selection name (default from method and parameters)")
    parser.add_argument(
        "--no-save", action="store_true", help="do not write RUN_DIR/selections/<name>.json"
    )
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="select from the score shards that are there when the run is unfinished or "
        "damaged (recorded in the selection, whose default name then ends in -partial)",
    )


def output_kind(path: str) -> str:
    """``fasta``, ``csv`` or ``json``, from an ``--out`` path's suffix.

    Raises:
        ConfigError: any other suffix (``.gz`` only after a FASTA suffix).
    """
    from biocoreset_viz.sequences import infer_format

    compressed = path.lower().endswith(".gz")
    kind = infer_format(path)
    if kind == "fasta":
        return "fasta"
    if kind == "csv" and not compressed:
        return "csv"
    if Path(path).suffix.lower() == ".json":
        return "json"
    raise ConfigError(f"--out {path}: unknown output type (use .fasta/.fa[.gz], .csv or .json)")


def selector_params(args: argparse.Namespace) -> dict[str, Any]:
    """The selector parameters given on the command line, for ``args.method``.

    Raises:
        ConfigError: an option that does not apply to the method.
    """
    from biocoreset_viz.selection.controls import selector_params as from_controls

    values = {parameter: getattr(args, option_dest(parameter)) for parameter in CONTROLS}
    return from_controls(args.method, values, strict=True)


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.runs import read_manifest, run_sequences
    from biocoreset_viz.selection.api import select_from_run

    run_dir = Path(args.run_dir)
    kinds = [(path, output_kind(path)) for path in args.out]
    params = selector_params(args)
    manifest = read_manifest(run_dir)  # RunDirectoryError when not a run
    sequences = None
    if args.method == "identity" or any(kind == "fasta" for _, kind in kinds):
        sequences = run_sequences(run_dir, manifest, args.input)
    try:
        selection = select_from_run(
            run_dir,
            args.method,
            name=args.name,
            save=not args.no_save,
            sequences=sequences,
            allow_partial=args.allow_partial,
            score=args.score,
            **params,
        )
    except ConfigError as error:  # name each parameter by its option, as the user typed it
        raise ConfigError(in_control_terms(str(error), style="option")) from None
    _report(selection, run_dir, saved=not args.no_save)
    for path, kind in kinds:
        if kind == "fasta":
            selection.to_fasta(path, sequences)
            _note_escaped_ids(selection, path)
        elif kind == "csv":
            selection.to_csv(path)
        else:
            selection.save(path)
        print(f"wrote {path}")
    return 0


def _note_escaped_ids(selection: Any, path: str) -> None:
    """Say when ids were percent-escaped in a FASTA (whitespace would have cut them)."""
    from biocoreset_viz.sequences import escape_fasta_id

    ids = [] if selection.ids is None else [str(i) for i in selection.ids]
    escaped = [(i, escape_fasta_id(i)) for i in ids if escape_fasta_id(i) != i]
    if escaped:
        original, written = escaped[0]
        print(
            f"note: {len(escaped):,} ids hold spaces, tabs or control characters and are "
            f"percent-escaped in {path} (first: {original!r} -> {written!r}); the CSV and "
            "JSON exports keep every id as it is"
        )


def _report(selection: Any, run_dir: Path, *, saved: bool) -> None:
    """Print what was selected: the size, CCI's cutoff and strata or the cluster count."""
    partial = selection.partial
    there = selection.n_total if partial is None else partial.get("rows") or selection.n_total
    score = selection.summary.get("score")
    print(
        f"selected {selection.n:,} of {there:,} sequences "
        f"({selection.n / there:.2%}) with {selection.method}"
        + (f" ranking by {score}" if score else "")
    )
    if partial is not None:
        ignored = len(partial.get("ignored_files") or [])
        print(
            f"partial run (--allow-partial): {there:,} of its {selection.n_total:,} sequences "
            "are scored"
            + (f"; {ignored} file(s) not among its shards ignored" if ignored else "")
            + "; the selection records it"
        )
    summary = selection.summary
    if selection.method == "cci":
        cutoff = summary.get("cutoff_value")
        print(
            f"hard cutoff removed {summary.get('n_cutoff', 0):,} sequences"
            + (f" (scores >= {cutoff:.6g})" if cutoff is not None else "")
            + f"; {summary.get('n_eligible', 0):,} eligible"
        )
        strata = selection.strata
        full = int(((strata["budget"] == strata["available"]) & (strata["available"] > 0)).sum())
        print(
            f"{len(strata)} strata: {int((strata['available'] > 0).sum())} non-empty, "
            f"{int((strata['selected'] > 0).sum())} represented, {full} taken whole"
        )
    elif "n_clusters" in summary:
        print(f"{summary['n_clusters']:,} clusters")
    if saved:
        print(f"saved {selection.path_in_run(run_dir, selection.name)}")
