"""``biocoreset demo``: the bundled demo data and model, end to end, offline.

Prints the dataset's statistics and the demo model's held-out loss, scores every
sequence (fine-tune, Fisher, self-influence; resumable) into a run directory,
selects a CCI coreset, and opens the dashboard on the run.
"""

from __future__ import annotations

import argparse

from biocoreset_viz.cli.serve import port_number

# the choices are repeated here so that `--help` does not import the data module
DATASETS = ("rna", "rna_structures", "proteome", "hemopexin")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="score the bundled demo data and open the dashboard",
        description="On a bundled demo dataset and its demo model: print the dataset's "
        "statistics and the model's held-out loss, score every sequence into a run "
        "directory (resumable: a second run reuses it), select a CCI coreset, and serve "
        "the dashboard on the run.",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="rna",
        help="demo dataset (default: rna); hemopexin needs pyfamsa installed",
    )
    parser.add_argument(
        "--out",
        metavar="RUN_DIR",
        help="run directory (default: ./biocoreset-demo-DATASET)",
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
    parser.add_argument(
        "--port", type=port_number, default=5006, help="dashboard port (default 5006)"
    )
    parser.add_argument(
        "--address", default="127.0.0.1", help="dashboard interface (default 127.0.0.1)"
    )
    parser.add_argument("--show", action="store_true", help="open the dashboard in a web browser")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from biocoreset_viz.datasets import demo_info, load_demo

    info = demo_info(args.dataset)
    sequences = load_demo(args.dataset)
    print(f"dataset            {info.name}: {info.description}")
    print(f"source             {info.source}")
    for line in sequences.stats().lines():
        print(line)
    if sequences.labels is not None:
        print(f"labels             {', '.join(sequences.labels.columns)}")
    print()
    report_model(info.model, sequences, args.dataset, sample_size=args.sample, seed=args.seed)
    print()
    run_dir = Path(args.out or f"biocoreset-demo-{args.dataset}")
    score_and_select(run_dir, args.dataset, progress=not args.quiet)
    if args.serve:
        from biocoreset_viz.app.server import serve

        print(f"\ndashboard          http://{args.address}:{args.port}/ (Ctrl-C stops)", flush=True)
        serve(run_dir, port=args.port, address=args.address, show=args.show)
    return 0


def score_and_select(run_dir, dataset: str, *, progress: bool) -> None:
    """Score the demo dataset into ``run_dir``, then report a CCI coreset against random."""
    import numpy as np

    from biocoreset_viz.coverage import label_coverage
    from biocoreset_viz.demo import build_demo_run
    from biocoreset_viz.selection import select_from_run

    print(f"scoring into       {run_dir} (resumable: run the command again to continue)")
    table = build_demo_run(run_dir, dataset=dataset, progress=progress)
    scores = table.scores
    print(
        f"self-influence     min {scores.min():.3g}, median {np.median(scores):.3g}, "
        f"max {scores.max():.3g} over {len(table):,} sequences"
    )
    settings = {"pruning_rate": 0.9, "random_state": 0}
    cci = select_from_run(run_dir, "cci", hard_cutoff=0.1, n_strata=50, **settings)
    random = select_from_run(run_dir, "random", **settings)
    print(
        f"coreset            CCI, alpha 0.9, beta 0.1, k 50: {len(cci.indices):,} of {len(table):,} sequences"
    )
    for column in ("family", "cluster"):
        if column in table.frame.columns:
            labels = table.frame[column].to_numpy()
            kept = label_coverage(labels, cci.indices).fraction
            baseline = label_coverage(labels, random.indices).fraction
            print(
                f"{column + ' coverage':<19}CCI {kept:.1%} vs random {baseline:.1%} of the same size"
            )
    print(f"saved              {run_dir}/selections/{cci.name}.json and {random.name}.json")


def report_model(name: str, sequences, dataset: str, *, sample_size: int, seed: int) -> None:
    """Print a demo model's size and its masked-LM loss on sequences it was not trained on."""
    import numpy as np

    from biocoreset_viz.models import checkpoint_metadata, load_model, parameter_count
    from biocoreset_viz.train import mlm_loss, unigram_cross_entropy

    model, alphabet = load_model(name)
    metadata = checkpoint_metadata(name)
    recipe = metadata.get("recipe", {})
    trained_on = metadata.get("datasets", [])
    size = f"{parameter_count(model):,} parameters"
    if recipe:
        size += f", {recipe['num_layers']} layers x {recipe['embed_dim']} dims"
    print(f"model              {name}: {size}, trained on demo {' + '.join(trained_on)}")

    # the model's own held-out sequences, or any sequence of a dataset it never saw
    if dataset in trained_on:
        heldout_ids = set(metadata.get("heldout_ids", ()))
        pool = np.array([i for i, name in enumerate(sequences.ids) if name in heldout_ids])
    else:
        pool = np.arange(len(sequences))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pool, size=min(sample_size, len(pool)), replace=False))
    rest = np.setdiff1d(np.arange(len(sequences)), sample)
    max_length = recipe.get("max_length", 1022)
    loss = mlm_loss(model, alphabet, sequences.subset(sample), seed=seed, max_length=max_length)
    scored = [sequences.sequences[i][:max_length] for i in sample]  # what the model sees
    baseline = unigram_cross_entropy(sequences.subset(rest), scored)
    print(
        f"masked-LM loss     {loss:.3f} nats on {len(sample)} sequences it was not trained on "
        f"(first {max_length} residues; unigram baseline {baseline:.3f})"
    )
