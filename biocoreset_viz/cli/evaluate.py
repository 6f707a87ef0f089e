"""``biocoreset evaluate RUN_DIR``: pretrain small models on coresets and random subsets, probe them.

Examples::

    biocoreset evaluate RUN_DIR --selections cci,topi,random --seeds 3
    biocoreset evaluate RUN_DIR --budget tokens --seeds 5 \
        --selections cci,topi,cci-length_adjusted,random,full
    biocoreset evaluate RUN_DIR --budget steps --steps 2000 --tasks mlm,structure
    biocoreset evaluate --demo --out demo-evaluation      # the demo experiment

Writes ``RUN_DIR/evaluation/`` (or ``--out``): ``curves.parquet`` (subset, seed,
step, tokens_seen, task, metric, value, budget), ``summary.json`` (with the
paired comparisons), ``splits.parquet`` and one folder per (subset, seed) with
its checkpoints. Prints the final metrics and the paired comparisons: per seed,
each subset minus each baseline, the mean, a 95% paired t interval and a
verdict. Rerunning the same command resumes: finished (subset, seed) pairs are
kept, an interrupted one starts over.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from biocoreset_viz.evaluation.config import EvaluationConfig

DEFAULT_SELECTIONS = "cci,topi,random,random10x,full"
DEMO_OUT = "biocoreset-demo-evaluation"

# option dest -> EvaluationConfig field
CONFIG_OPTIONS = {
    "pruning_rate": "pruning_rate",
    "hard_cutoff": "hard_cutoff",
    "strata": "n_strata",
    "budget": "budget",
    "epochs": "epochs",
    "steps": "steps",
    "tokens": "tokens",
    "checkpoints": "checkpoints",
    "layers": "layers",
    "dim": "embed_dim",
    "heads": "heads",
    "max_length": "max_length",
    "max_tokens": "max_tokens",
    "lr": "learning_rate",
    "tasks": "tasks",
    "structure_source": "structure_source",
    "bprna": "bprna",
    "predict_missing_structures": "predict_missing_structures",
    "clustering": "clustering",
    "heldout_fraction": "heldout_fraction",
    "device": "device",
    "keep_checkpoints": "keep_checkpoints",
}


def seeds_argument(text: str) -> int | list[int]:
    """``3`` (a count: seeds 0, 1, 2) or ``0,4,7`` (a list)."""
    try:
        if "," in text:
            return [int(part) for part in text.split(",") if part.strip()]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count or a comma-separated list of integers, got {text!r}"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="pretrain small models on coresets and random subsets and compare them downstream",
        description="Pretrain a fresh small ESM-2 from scratch on each subset of a scored run "
        "(coresets, random subsets, the full pool) for every seed under an equal budget, "
        "probe every checkpoint on downstream tasks with frozen embeddings, and write "
        "learning curves to RUN_DIR/evaluation/curves.parquet. Resumable per (subset, seed).",
        epilog="subsets: cci, topi, bottomi, diversity, random (coreset size), random<K>x "
        "(K times the coreset), full, <method>-<score> (cci, topi or bottomi ranking by another "
        "score: length_adjusted, loss, gradient_norm, loss_length_adjusted ...), or a selection "
        "saved in RUN_DIR/selections. "
        "tasks: mlm (held-out perplexity), structure (RNA base pairs: F1, top-L precision), "
        "family (RNA family: accuracy, macro-F1), blade (hemopexin blade position, protein).",
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", nargs="?", help="scored run directory (not with --demo)"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the demo experiment: the bundled RNA demo run (scored now if the package lacks "
        "it) with all five subsets and 3 seeds, written to --out",
    )
    parser.add_argument(
        "--selections",
        default=DEFAULT_SELECTIONS,
        metavar="NAMES",
        help=f"comma-separated subsets (default {DEFAULT_SELECTIONS})",
    )
    parser.add_argument(
        "--seeds",
        type=seeds_argument,
        default=3,
        metavar="N|LIST",
        help="number of seeds (default 3) or a comma-separated list",
    )
    _add_subset_options(parser)
    _add_training_options(parser)
    _add_task_options(parser)
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's)")
    parser.add_argument(
        "--keep-checkpoints",
        choices=("all", "last", "none"),
        help="model checkpoints kept on disk (default all)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="evaluation directory (default RUN_DIR/evaluation; with --demo: "
        f"{DEMO_OUT}, holding run/ if scored and evaluation/)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="discard an evaluation made with other settings"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def _add_subset_options(parser: argparse.ArgumentParser) -> None:
    subsets = parser.add_argument_group("subsets")
    subsets.add_argument(
        "--pruning-rate", type=float, metavar="ALPHA", help="fraction removed (default 0.9)"
    )
    subsets.add_argument("--hard-cutoff", type=float, metavar="BETA", help="CCI beta (default 0.1)")
    subsets.add_argument("--strata", type=int, metavar="K", help="CCI strata (default 50)")


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    training = parser.add_argument_group("pretraining")
    training.add_argument(
        "--budget",
        choices=("epochs", "steps", "tokens"),
        help="equal epochs for every subset (default, as the paper), equal optimiser steps, "
        "or equal training tokens (to within one batch)",
    )
    training.add_argument("--epochs", type=int, help="passes over each subset (default 10)")
    training.add_argument(
        "--steps",
        type=int,
        help="steps per subset with --budget steps (default: the full pool's steps for --epochs)",
    )
    training.add_argument(
        "--tokens",
        type=int,
        help="training tokens per subset with --budget tokens (default: what the full pool "
        "sees in --epochs passes)",
    )
    training.add_argument(
        "--checkpoints", type=int, help="evaluations during training (default 4, plus step 0)"
    )
    training.add_argument("--layers", type=int, help="transformer layers (default 2)")
    training.add_argument("--dim", type=int, help="model width (default 64)")
    training.add_argument("--heads", type=int, help="attention heads (default 4)")
    training.add_argument(
        "--max-length", type=int, help="residues per training sequence (default 128)"
    )
    training.add_argument("--max-tokens", type=int, help="tokens per batch (default 4096)")
    training.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")


def _add_task_options(parser: argparse.ArgumentParser) -> None:
    probing = parser.add_argument_group("tasks")
    probing.add_argument(
        "--tasks", help="'auto' (default) or comma-separated: mlm, structure, family, blade"
    )
    probing.add_argument(
        "--structure-source",
        metavar="SOURCE",
        help="squarna (default), bprna, pool or a CSV with sequence and structure columns",
    )
    probing.add_argument(
        "--bprna",
        metavar="PATH",
        help="the bpRNA-derived set (bprna.csv.gz) read by --structure-source bprna "
        "(default: $BIOCORESET_BPRNA)",
    )
    probing.add_argument(
        "--predict-missing-structures",
        action="store_true",
        default=None,
        help="fold missing structures with ViennaRNA (scored apart as structure_predicted)",
    )
    probing.add_argument(
        "--clustering",
        choices=("auto", "mmseqs", "kmer"),
        help="identity clustering for leakage-free splits (default auto: MMseqs2 if installed)",
    )
    probing.add_argument(
        "--heldout-fraction", type=float, help="pool share held out by cluster (default 0.1)"
    )


def config_from_args(args: argparse.Namespace) -> EvaluationConfig:
    """The :class:`~biocoreset_viz.evaluation.EvaluationConfig` of the given options
    (on top of the demo preset with ``--demo``).

    Raises:
        ConfigError: an invalid value.
    """
    from biocoreset_viz.evaluation import EvaluationConfig

    changes = {
        field: getattr(args, dest)
        for dest, field in CONFIG_OPTIONS.items()
        if getattr(args, dest) is not None
    }
    return EvaluationConfig.demo(**changes) if args.demo else EvaluationConfig(**changes)


def report_result(result, elapsed: float) -> None:
    """Print what an evaluation found: final metrics, paired comparisons, floors, notes."""
    from biocoreset_viz.evaluation import format_comparisons, format_table, metric_floors
    from biocoreset_viz.runs import CURVES_NAME

    print()
    print(format_table(result.table()))
    comparisons = result.comparisons()
    if len(comparisons):
        print()
        print(
            "Paired comparisons (subset minus baseline, seed by seed; 95% paired t interval; "
            "final values):"
        )
        print(format_comparisons(comparisons))
        if (comparisons["n_seeds"] < 2).all():
            print("n = 1, no spread: one seed gives no interval; use --seeds 5 for a verdict")
    print()
    for task, floor in metric_floors(result.plan).items():
        print(
            f"floor: {task} perplexity {floor['unigram_perplexity']:.3f} from the pool's residue "
            "frequencies alone (a model at it learned no context)"
        )
    for subset, target in result.aliases.items():
        print(f"note: {subset} is the same set of sequences as {target} (trained once)")
    for note in result.plan.notes:
        print(f"note: {note}")
    if result.budget:
        kind = result.budget["kind"]
        print(f"budget: equal {kind} ({result.budget[kind]:,} per subset)")
    print(
        f"pretraining pool: {len(result.plan.pretrain):,} sequences; clustering: "
        f"{result.plan.clustering}"
    )
    print(f"curves: {result.directory / CURVES_NAME}  ({elapsed:.0f} s)")


def run(args: argparse.Namespace) -> int:
    from biocoreset_viz.errors import ConfigError
    from biocoreset_viz.evaluation import demo_experiment, evaluate

    if args.demo == bool(args.run_dir):
        raise ConfigError("give either RUN_DIR or --demo")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    progress = not args.no_progress
    started = time.perf_counter()

    def report(part: dict) -> None:
        if not progress:
            alias = f" (= {part['alias_of']})" if part.get("alias_of") else ""
            print(
                f"finished {part['subset']} seed {part['seed']}{alias}: {part['n_sequences']:,} "
                f"sequences, {part['steps']:,} steps, {part['seconds']:.0f} s",
                flush=True,
            )

    if args.demo:
        result = demo_experiment(
            Path(args.out or DEMO_OUT),
            subsets=args.selections,
            seeds=args.seeds,
            config=config,
            overwrite=args.overwrite,
            progress=progress,
            on_part=report,
        )
    else:
        result = evaluate(
            args.run_dir,
            args.selections,
            args.seeds,
            config,
            evaluation_dir=args.out,
            overwrite=args.overwrite,
            progress=progress,
            on_part=report,
        )
    report_result(result, time.perf_counter() - started)
    return 0
