"""The evaluation directory on disk: its files, and one folder per finished (subset, seed).

Layout::

    EVALUATION_DIR/
      config.json           the settings and the identity of the run evaluated
      splits.parquet        every sequence's joint cluster and role
      curves.parquet        the learning curves of every finished part
      summary.json          subsets, seeds, aliases, pool sizes, leakage, notes, parts
      parts/<subset>/seed-<seed>/
        subset.json         the subset's sequences and how they were drawn
        curves.parquet train_log.parquet checkpoints/step-NNNNNNN.pt
        result.json         written last: the part is finished when it exists

A part without ``result.json`` was interrupted; it is deleted and run again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from biocoreset_viz.evaluation.curves import curves_frame, write_parquet
from biocoreset_viz.evaluation.subsets import SubsetDraw
from biocoreset_viz.runs import CURVES_NAME, read_json, write_json
from biocoreset_viz.sequences import SequenceSet

CONFIG_NAME = "config.json"
SPLITS_NAME = "splits.parquet"
SUMMARY_NAME = "summary.json"
PARTS_DIR = "parts"
RESULT_NAME = "result.json"
SUBSET_NAME = "subset.json"
TRAIN_LOG_NAME = "train_log.parquet"
CHECKPOINTS_DIR = "checkpoints"
# what an alias part copies from the part it equals
COPIED_RESULTS = (
    "steps",
    "epochs",
    "tokens_seen",
    "budget",
    "planned_steps",
    "target_tokens",
    "initial_weights",
)


def part_dir(directory: Path, subset: str, seed: int) -> Path:
    """The folder of (subset, seed) in an evaluation directory."""
    return directory / PARTS_DIR / subset / f"seed-{seed}"


def part_done(directory: Path, subset: str, seed: int) -> bool:
    """Whether (subset, seed) finished in this evaluation directory."""
    return (part_dir(directory, subset, seed) / RESULT_NAME).is_file()


def finished_parts(directory: Path) -> list[dict[str, Any]]:
    """The ``result.json`` of every finished part, in path order."""
    return [
        read_json(path) for path in sorted((directory / PARTS_DIR).glob(f"*/seed-*/{RESULT_NAME}"))
    ]


def collect_curves(directory: Path) -> pd.DataFrame:
    """The curves of every finished part, sorted by subset, seed, step, task and metric."""
    frames = [
        pd.read_parquet(part_dir(directory, part["subset"], part["seed"]) / CURVES_NAME)
        for part in finished_parts(directory)
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return curves_frame([])
    curves = curves_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
    return curves.sort_values(["subset", "seed", "step", "task", "metric"], ignore_index=True)


def start_part(directory: Path, draw: SubsetDraw, pool: SequenceSet) -> Path:
    """A fresh folder for (subset, seed), holding ``subset.json``; an interrupted attempt
    is deleted first."""
    folder = part_dir(directory, draw.subset, draw.seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json(
        folder / SUBSET_NAME,
        {
            "subset": draw.subset,
            "seed": draw.seed,
            "method": draw.method,
            "params": draw.params,
            "alias_of": draw.alias_of,
            "n": len(draw.indices),
            "indices": draw.indices,
            "ids": [pool.ids[i] for i in draw.indices],
        },
    )
    return folder


def copy_alias(directory: Path, draw: SubsetDraw, result: dict[str, Any]) -> dict[str, Any]:
    """Finish an alias part from the part it equals: its curves under the alias's name,
    its steps, epochs and tokens; no training (0 seconds)."""
    source = part_dir(directory, draw.alias_of, draw.seed)
    folder = part_dir(directory, draw.subset, draw.seed)
    curves = pd.read_parquet(source / CURVES_NAME)
    curves["subset"] = draw.subset
    write_parquet(folder / CURVES_NAME, curves_frame(curves.to_dict("records")))
    target = read_json(source / RESULT_NAME)
    result.update({k: target[k] for k in COPIED_RESULTS if k in target}, seconds=0.0)
    write_json(folder / RESULT_NAME, result)
    return result
