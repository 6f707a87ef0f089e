"""``biocoreset select RUN_DIR``: choose a coreset from a run's scores and export it.

Example::

    biocoreset select RUN_DIR --method cci --pruning-rate 0.99 --hard-cutoff 0.1 \\
        --strata 50 --seed 0 --out coreset.fasta

The selection is saved as ``RUN_DIR/selections/<name>.json``; ``--out`` also
writes FASTA (``.fa``, ``.fasta`` ..., ``.gz`` too), a CSV of ids (``.csv``) or the
JSON manifest (``.json``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

METHOD_HELP = {
    "cci": "Coverage-Centric Influence: hard cutoff, strata, balanced budgets (default)",
    "topi": "Top-k Influence: the largest self-influence",
    "bottomi": "the smallest self-influence (easiest)",
    "random": "uniformly at random",
    "diversity": "embedding diversity: k-means cluster-and-sample or k-center greedy",
    "identity": "MMseqs2 sequence-identity clusters, sampled round-robin",
}

# option dest -> (selector parameter, methods it applies to)
METHOD_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hard_cutoff": ("hard_cutoff", ("cci",)),
    "strata": ("n_strata", ("cci",)),
    "strata_kind": ("strata", ("cci",)),
    "seed": ("random_state", ("cci", "random", "diversity", "identity")),
    "strategy": ("strategy", ("diversity",)),
    "n_clusters": ("n_clusters", ("diversity",)),
    "min_seq_id": ("min_seq_id", ("identity",)),
    "coverage": ("coverage", ("identity",)),
    "threads": ("threads", ("identity",)),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "select",
        help="choose a coreset from a run's scores",
        description="Select a coreset from the self-influence scores of a run directory, "
        "save it as RUN_DIR/selections/<name>.json and optionally export it.",
        epilog="methods: " + "; ".join(f"{k}: {v}" for k, v in METHOD_HELP.items()),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory with score shards")
    parser.add_argument(
        "--method", choices=tuple(METHOD_HELP), default="cci", help="selection method (default cci)"
    )
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument(
        "--pruning-rate",
        type=float,
        metavar="ALPHA",
        help="fraction of the pool to remove, in [0, 1); keeps round((1-ALPHA)*N)",
    )
    size.add_argument("--n-select", type=int, metavar="N", help="coreset size")
    cci = parser.add_argument_group("cci")
    cci.add_argument(
        "--hard-cutoff",
        type=float,
        metavar="BETA",
        help="fraction of the most influential sequences removed first (default 0.1)",
    )
    cci.add_argument("--strata", type=int, metavar="K", help="number of strata (default 50)")
    cci.add_argument(
        "--strata-kind",
        choices=("equal_width", "quantile"),
        help="equal-width score slices (default) or equal-count quantile strata",
    )
    parser.add_argument(
        "--seed", type=int, help="random seed (default 0) for cci, random, diversity, identity"
    )
    diversity = parser.add_argument_group("diversity")
    diversity.add_argument(
        "--strategy", choices=("kmeans", "kcenter"), help="k-means (default) or k-center greedy"
    )
    diversity.add_argument("--n-clusters", type=int, help="k-means clusters (default min(n, 1000))")
    identity = parser.add_argument_group("identity")
    identity.add_argument(
        "--min-seq-id", type=float, help="MMseqs2 identity threshold (default 0.8)"
    )
    identity.add_argument("--coverage", type=float, help="MMseqs2 alignment coverage (default 0.8)")
    identity.add_argument("--threads", type=int, help="MMseqs2 threads (default: all cores)")
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
    parser.set_defaults(run=run)


def _fail(message: str) -> int:
    print(f"biocoreset select: error: {message}", file=sys.stderr)
    return 2


def _output_kind(path: str) -> str | None:
    from biocoreset_viz.selection import FASTA_SUFFIXES

    name = path.lower().removesuffix(".gz")
    if name.endswith(FASTA_SUFFIXES):
        return "fasta"
    if name.endswith(".csv") and not path.lower().endswith(".gz"):
        return "csv"
    if name.endswith(".json") and not path.lower().endswith(".gz"):
        return "json"
    return None


def selector_params(args: argparse.Namespace) -> dict[str, Any]:
    """The selector parameters given on the command line, for ``args.method``.

    Raises:
        ValueError: an option that does not apply to the method.
    """
    params: dict[str, Any] = {"pruning_rate": args.pruning_rate, "n_select": args.n_select}
    for dest, (param, methods) in METHOD_OPTIONS.items():
        value = getattr(args, dest)
        if value is None:
            continue
        if args.method not in methods:
            option = "--" + dest.replace("_", "-")
            raise ValueError(f"{option} does not apply to --method {args.method}")
        params[param] = value
    if args.method in METHOD_OPTIONS["seed"][1]:
        params.setdefault("random_state", 0)
    return params


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.errors import InputError
    from biocoreset_viz.runs import read_manifest, run_sequences
    from biocoreset_viz.selection import select_from_run

    run_dir = Path(args.run_dir)
    kinds = [(path, _output_kind(path)) for path in args.out]
    unknown = [path for path, kind in kinds if kind is None]
    if unknown:
        return _fail(
            f"--out {unknown[0]}: unknown output type (use .fasta/.fa[.gz], .csv or .json)"
        )
    try:
        params = selector_params(args)
    except ValueError as error:
        return _fail(str(error))

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
            **params,
        )
    except InputError:
        raise
    except ValueError as error:
        return _fail(str(error))

    print(
        f"selected {selection.n:,} of {selection.n_total:,} sequences "
        f"({selection.n / selection.n_total:.2%}) with {args.method}"
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
    if not args.no_save:
        print(f"saved {selection.path_in_run(run_dir, selection.name)}")
    for path, kind in kinds:
        if kind == "fasta":
            selection.to_fasta(path, sequences)
        elif kind == "csv":
            selection.to_csv(path)
        else:
            selection.save(path)
        print(f"wrote {path}")
    return 0
