"""Train the bundled demo models from scratch by masked language modelling.

Run from the repository root (CPU)::

    python data/scripts/train_demo_models.py              # both models
    python data/scripts/train_demo_models.py --only rna
    python data/scripts/train_demo_models.py --evaluate-only   # re-score the shipped files

Each model is a small ESM-2 (rotary attention, fair-esm classes) trained on demo
datasets, each with a held-out split that shares no group with the training set
(RNA: 80%-identity clusters; proteome: exact-duplicate sequences stay together;
hemopexin: the repeats of one protein stay together). The checkpoints (float16
weights, ``biocoreset_viz.model/1`` format) go to ``data/`` with the settings, the
held-out ids and the held-out results in their metadata; the script prints a
Markdown table for ``data/README.md``.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from biocoreset_viz.datasets import load_demo, train_heldout_split
from biocoreset_viz.models import (
    DEMO_MODELS,
    build_esm2,
    checkpoint_metadata,
    load_model,
    parameter_count,
    save_model,
)
from biocoreset_viz.sequences import SequenceSet
from biocoreset_viz.train import mlm_loss, train_mlm, unigram_cross_entropy

DATA_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoModelRecipe:
    name: str
    # (demo dataset, label column whose groups the held-out split keeps together;
    # None: identical sequences)
    datasets: tuple[tuple[str, str | None], ...]
    num_layers: int = 4
    embed_dim: int = 128
    attention_heads: int = 8
    max_length: int = 128
    epochs: int = 8
    max_tokens: int = 4096
    lr: float = 2e-3
    warmup_steps: float = 0.05
    heldout_fraction: float = 0.1
    seed: int = 0


RECIPES = {
    "rna": DemoModelRecipe("demo-rna", (("rna", "cluster"),)),
    # hemopexin is GPL-licensed data: training on it is fine, the data is not shipped
    "protein": DemoModelRecipe("demo-protein", (("proteome", None), ("hemopexin", "protein"))),
}


@dataclass
class Part:
    """One dataset's training and held-out sequences."""

    dataset: str
    train: SequenceSet
    heldout: SequenceSet


def split_parts(recipe: DemoModelRecipe) -> list[Part]:
    parts = []
    for dataset, group_by in recipe.datasets:
        sequences = load_demo(dataset)
        train_index, heldout_index = train_heldout_split(
            sequences, fraction=recipe.heldout_fraction, group_by=group_by, seed=recipe.seed
        )
        parts.append(Part(dataset, sequences.subset(train_index), sequences.subset(heldout_index)))
    return parts


def train_one(recipe: DemoModelRecipe, out_dir: Path, *, progress: bool) -> Path:
    parts = split_parts(recipe)
    # train_mlm reshuffles every epoch, so the order of the parts does not matter
    training = [s for part in parts for s in part.train.sequences]
    model = build_esm2(
        recipe.num_layers,
        recipe.embed_dim,
        recipe.attention_heads,
        parts[0].train.molecule,
        seed=recipe.seed,
    )
    started = time.perf_counter()
    log = train_mlm(
        model,
        model.alphabet,
        training,
        epochs=recipe.epochs,
        max_tokens=recipe.max_tokens,
        max_length=recipe.max_length,
        crop="random",
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        seed=recipe.seed,
        progress=progress,
    )
    metadata = {
        "steps": log[-1]["step"],
        "tokens_seen": log[-1]["tokens_seen"],
        "final_train_loss": log[-1]["loss"],
        "wall_seconds": round(time.perf_counter() - started, 1),
        "threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "machine": platform.machine(),
    }
    path = out_dir / DEMO_MODELS[recipe.name]
    save_model(model, model.alphabet, path, half=True, metadata=metadata)
    return path


# what train_one records; evaluate() rebuilds the rest of the metadata
TRAINING_FIELDS = (
    "steps",
    "tokens_seen",
    "final_train_loss",
    "wall_seconds",
    "threads",
    "torch",
    "machine",
)


def evaluate(recipe: DemoModelRecipe, path: Path) -> dict:
    """Score the saved (float16) model on each held-out set; store the results in its file."""
    parts = split_parts(recipe)
    model, alphabet = load_model(path)
    evaluation = {}
    for part in parts:
        # the baseline sees the same residues the model is scored on, with the
        # composition of the same dataset's training part (the stricter choice)
        scored = [s[: recipe.max_length] for s in part.heldout.sequences]
        evaluation[part.dataset] = {
            "heldout_sequences": len(part.heldout),
            "heldout_mlm_loss": round(
                mlm_loss(model, alphabet, part.heldout, max_length=recipe.max_length), 4
            ),
            "unigram_cross_entropy": round(unigram_cross_entropy(part.train, scored), 4),
        }
    trained = checkpoint_metadata(path)
    metadata = {
        "name": recipe.name,
        "datasets": [part.dataset for part in parts],
        "recipe": asdict(recipe),
        "train_sequences": sum(len(part.train) for part in parts),
        **{key: trained[key] for key in TRAINING_FIELDS},
        "parameters": parameter_count(model),
        "heldout_ids": [name for part in parts for name in part.heldout.ids],
        "evaluation": evaluation,
    }
    save_model(model, alphabet, path, half=True, metadata=metadata)
    return metadata | {"file": path.name, "bytes": path.stat().st_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RECIPES), help="one model only")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--evaluate-only",
        action="store_true",
        help="do not train: re-score the checkpoints already in --out",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results = []
    for key, recipe in RECIPES.items():
        if args.only not in (None, key):
            continue
        path = args.out / DEMO_MODELS[recipe.name]
        if not args.evaluate_only:
            path = train_one(recipe, args.out, progress=not args.no_progress)
        results.append(evaluate(recipe, path))

    print(
        "\n| model | held-out data | parameters | file | steps "
        "| tokens seen | wall time | held-out MLM loss | unigram baseline |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        for dataset, scores in r["evaluation"].items():
            print(
                f"| `{r['name']}` | `{dataset}`: {scores['heldout_sequences']:,} held out "
                f"| {r['parameters']:,} | {r['file']} ({r['bytes'] / 1e6:.1f} MB) "
                f"| {r['steps']:,} | {r['tokens_seen']:,} | {r['wall_seconds']:,.0f} s "
                f"| {scores['heldout_mlm_loss']:.3f} | {scores['unigram_cross_entropy']:.3f} |"
            )


if __name__ == "__main__":
    main()
