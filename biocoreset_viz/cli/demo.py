"""``biocoreset demo``: the bundled demo data and model, end to end, offline.

Prints the dataset's statistics and the demo model's held-out loss, scores every
sequence (fine-tune, Fisher, self-influence; resumable) into a run directory,
selects a CCI coreset, and opens the dashboard on the run. The reports are made by
:mod:`biocoreset_viz.demo`; this command prints them. ``--dataset antibody`` (or
``--model sapiens-vh``) scores the antibody germlines with the real pretrained
Sapiens model; ``--model`` scores a demo dataset with any model ``load_model`` takes.
"""

from __future__ import annotations

import argparse

from biocoreset_viz.cli import add_command
from biocoreset_viz.cli.serve import add_server_options

# the choices are repeated here so that `--help` does not import the data module
DATASETS = ("rna", "rna_structures", "proteome", "hemopexin", "antibody")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "demo",
        run,
        summary="score the bundled demo data and open the dashboard",
        description="On a bundled demo dataset and its demo model: print the dataset's "
        "statistics and the model's held-out loss, score every sequence into a run "
        "directory (resumable: a second run reuses it), select a CCI coreset, and serve "
        "the dashboard on the run.",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        help="demo dataset (default: the one of --model, else rna); hemopexin needs "
        "pyfamsa installed; antibody is scored with the pretrained Sapiens model sapiens-vh",
    )
    parser.add_argument(
        "--model",
        metavar="NAME_OR_PATH",
        help="score with this model instead of the dataset's demo model (demo-rna, "
        "demo-protein, sapiens-vh; see `biocoreset models`); alone, it picks the dataset "
        "it is the demo model of (sapiens-vh: antibody), else the first of its molecule",
    )
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run directory (default: ./biocoreset-demo-DATASET, "
        "./biocoreset-demo-DATASET-MODEL with another --model)",
    )
    parser.add_argument(
        "--sample",
        type=positive_int,
        default=128,
        metavar="N",
        help="sequences used for the model's held-out loss (default 128)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the masks")
    parser.add_argument(
        "--no-serve", dest="serve", action="store_false", help="stop after scoring and selecting"
    )
    add_server_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from biocoreset_viz.datasets import demo_for_model, demo_info, load_demo
    from biocoreset_viz.demo import dataset_report

    dataset = args.dataset or (demo_for_model(args.model) if args.model else "rna")
    info = demo_info(dataset)
    model = args.model or info.model
    sequences = load_demo(dataset)
    _print_lines(dataset_report(dataset, sequences))
    print()
    report_model(model, sequences, dataset, sample_size=args.sample, seed=args.seed)
    print()
    default_out = f"biocoreset-demo-{dataset}"
    if model != info.model:
        stem = Path(model).name
        default_out += "-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
    run_dir = Path(args.out or default_out)
    score_and_select(run_dir, dataset, model=model, progress=not args.quiet)
    if args.serve:
        from biocoreset_viz.app.server import serve

        print(f"\ndashboard          http://{args.address}:{args.port}/ (Ctrl-C stops)", flush=True)
        serve(run_dir, port=args.port, address=args.address, show=args.show)
    return 0


def score_and_select(run_dir, dataset: str, *, model: str | None = None, progress: bool) -> None:
    """Score the demo dataset into ``run_dir``, then print a CCI coreset against random."""
    from biocoreset_viz.demo import build_demo_run, coreset_report

    print(f"scoring into       {run_dir} (resumable: run the command again to continue)")
    table = build_demo_run(run_dir, dataset=dataset, model=model, progress=progress)
    print(truncation_line(table.manifest))
    _print_lines(coreset_report(run_dir, table))


def truncation_line(manifest: dict) -> str:
    """How many sequences were cut to the model's window (from a run's manifest)."""
    counts = manifest.get("counts") or {}
    scored, truncated = counts.get("scored"), counts.get("truncated") or 0
    window = manifest.get("max_length")
    if not truncated:
        return f"truncated          none: every sequence fits the model's {window}-residue window"
    return (
        f"truncated          {truncated:,} of {scored:,} sequences were cut to the model's "
        f"{window}-residue window (the rest of each is not scored)"
    )


def report_model(name: str, sequences, dataset: str, *, sample_size: int, seed: int) -> None:
    """Print a demo model's size and its masked-LM loss on sequences it was not trained on."""
    from biocoreset_viz.demo import model_report

    _print_lines(model_report(name, sequences, dataset, sample_size=sample_size, seed=seed))


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)
