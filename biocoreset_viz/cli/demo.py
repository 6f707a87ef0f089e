"""``biocoreset demo``: the bundled demo data and model, end to end, offline."""

from __future__ import annotations

import argparse

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
        help="run on the bundled demo data and model",
        description="Load a bundled demo dataset and its demo model, print the dataset's "
        "statistics, the model's size and its masked-language-model loss on a sample.",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default="rna",
        help="demo dataset (default: rna); hemopexin needs pyfamsa installed",
    )
    parser.add_argument(
        "--sample",
        type=positive_int,
        default=128,
        metavar="N",
        help="sequences used for the model's held-out loss (default 128)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the masks")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
    return 0


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
