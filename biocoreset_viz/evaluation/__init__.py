"""Downstream evaluation: does a coreset pretrain as well as random subsets ten times larger?

:func:`evaluate` takes a scored run directory and, for every requested subset of
its pool and every seed, pretrains a fresh small ESM-2 from scratch by masked
language modelling under the same budget, evaluates the model before training
and at evenly spaced checkpoints with frozen-embedding probes
(:mod:`biocoreset_viz.probes`), and writes the learning curves to
``RUN_DIR/evaluation/curves.parquet``: one row per ``subset``, ``seed``,
``step``, ``tokens_seen``, ``task``, ``metric`` and ``value``.

**Subsets** (``subsets=``): ``cci`` (Coverage-Centric Influence), ``topi``
(Top-k Influence), ``bottomi``, ``diversity``, ``random`` (same size as the
coreset), ``random<K>x`` (``K`` times the coreset, e.g. ``random10x``; capped at
the pool), ``full`` (the whole pretraining pool), or the name of a selection
saved in ``RUN_DIR/selections/``. The coreset size is ``round((1 - pruning_rate)
* N)`` of the pretraining pool. CCI and the random subsets are drawn anew for
every seed (their randomness is part of the spread); a model's initial weights,
masks and batch order come from the seed too, so subsets that share a seed start
from the same weights. A subset that equals an earlier one (``random10x`` is the
full pool whenever ten times the coreset reaches the pool size) is not trained
twice: its curves are copied and the alias is recorded in ``summary.json``.

**Budget**: ``"epochs"`` (as the paper: every subset is trained for the same
number of passes, so a 10% coreset gets a tenth of the steps of the full pool) or
``"steps"`` (every subset gets the same number of optimiser steps; by default as
many as the full pool needs for ``epochs`` passes).

**Tasks** (``tasks="auto"`` picks those the data allows):

* ``mlm`` (every molecule): masked-LM loss (nats) and perplexity on held-out
  pool sequences, on fixed masks.
* ``structure`` (RNA): base pairs from embeddings and attention maps; F1 and
  top-L precision. Labels are real dot-brackets: the squarna set (default), the
  bpRNA-derived set, the pool's own ``structure`` column or a CSV file. Missing
  structures are folded with ViennaRNA only when ``predict_missing_structures``
  is set, and those are scored separately as task ``structure_predicted``.
* ``family`` (RNA with a ``family`` label, e.g. Rfam in the demo): linear probe
  on mean-pooled embeddings; accuracy and macro-F1.
* ``blade`` (protein): which of the four blades of a four-bladed hemopexin-like
  domain a repeat is (real positions from the family's Pfam-style coordinates;
  the demo ``hemopexin`` set, needs pyfamsa); accuracy and macro-F1. Chosen
  over family membership against the bacterial proteome, which amino-acid
  composition alone gets 94% right on length-matched windows; composition and
  length give 79% on blades, so the probe has room to show learned context.

**No leakage.** Every sequence of the pool and of the task sets gets a joint
cluster (:mod:`biocoreset_viz.splits`: exact copies, the pool's own ``cluster``
labels and 80%-identity clusters over all sets together, by MMseqs2 or a k-mer
estimate). The held-out pool side (MLM and family test sequences) is a set of
whole clusters; a structure or blade test sequence never shares a cluster with
its probe's training side; and any pool sequence that shares a cluster with any
test sequence is removed from the pretraining pool, so no pretrained model has
seen a relative of a test sequence. ``splits.parquet`` records every role.

**Resumable** per ``(subset, seed)``: each finishes in
``evaluation/parts/<subset>/seed-<seed>/`` (curves, training log, checkpoints,
the subset's selection) with ``result.json`` written last; a finished part is
never recomputed, an interrupted one is deleted and restarted. Every file is
written atomically. The evaluation settings are recorded in ``config.json``; a
later call with other settings is refused unless ``overwrite=True``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from biocoreset_viz.curves import CURVE_COLUMNS, summarize_curves
from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.probes import DEFAULT_MIN_SEPARATION, parse_dot_bracket
from biocoreset_viz.runs import atomic_write_bytes, read_json, read_manifest, write_json
from biocoreset_viz.sequences import SequenceSet

EVALUATION_DIR = "evaluation"
CURVES_NAME = "curves.parquet"
CONFIG_NAME = "config.json"
SPLITS_NAME = "splits.parquet"
SUMMARY_NAME = "summary.json"
PARTS_DIR = "parts"
RESULT_NAME = "result.json"
DEFAULT_SUBSETS = ("cci", "topi", "random", "random10x", "full")
SELECTOR_SUBSETS = ("cci", "topi", "bottomi", "random", "diversity")
RANDOM_MULTIPLE = re.compile(r"random(\d+)x")
TASKS = ("mlm", "structure", "family", "blade")
STRUCTURE_SOURCES = ("squarna", "bprna", "pool")
BPRNA_FILE = Path("shared") / "data" / "bprna.csv.gz"
UNKNOWN_LABELS = frozenset({"", "unknown", "nan", "none"})
# metrics where smaller is better (the table marks the direction)
LOWER_IS_BETTER = frozenset({("mlm", "loss"), ("mlm", "perplexity")})


def _help(text: str) -> dict[str, str]:
    return {"help": text}


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass
class EvaluationConfig:
    """How subsets are pretrained and probed; validated on creation.

    Every field's ``help`` metadata documents it (``EvaluationConfig.help()``).
    ``EvaluationConfig.demo()`` is the preset of the demo experiment.
    """

    pruning_rate: float = field(
        default=0.9,
        metadata=_help("fraction alpha of the pretraining pool removed: coreset = (1-alpha) N"),
    )
    hard_cutoff: float = field(
        default=0.1, metadata=_help("CCI: fraction beta of the most influential dropped first")
    )
    n_strata: int = field(default=50, metadata=_help("CCI: number of score strata k"))
    budget: Literal["epochs", "steps"] = field(
        default="epochs",
        metadata=_help(
            "'epochs': every subset trained for `epochs` passes (the paper); 'steps': "
            "every subset trained for `steps` optimiser steps"
        ),
    )
    epochs: int = field(default=10, metadata=_help("passes over each subset (budget='epochs')"))
    steps: int | None = field(
        default=None,
        metadata=_help(
            "optimiser steps per subset (budget='steps'); None = what the full pool "
            "needs for `epochs` passes"
        ),
    )
    checkpoints: int = field(
        default=4,
        metadata=_help("evaluations during training, evenly spaced (plus one before training)"),
    )
    layers: int = field(default=2, metadata=_help("transformer layers of the fresh ESM-2"))
    embed_dim: int = field(default=64, metadata=_help("model width"))
    heads: int = field(default=4, metadata=_help("attention heads (divides embed_dim)"))
    max_length: int = field(
        default=128,
        metadata=_help("residues per training sequence (a random window of longer ones)"),
    )
    max_tokens: int = field(default=4096, metadata=_help("token budget per training batch"))
    learning_rate: float = field(default=2e-3, metadata=_help("peak AdamW learning rate"))
    tasks: str | list[str] = field(
        default="auto",
        metadata=_help(
            "'auto' (every task the data allows) or a list of mlm, structure, family, blade"
        ),
    )
    structure_source: str = field(
        default="squarna",
        metadata=_help(
            "base-pair labels: 'squarna' (485 PDB-derived structures, bundled), 'bprna' "
            "(the bpRNA-derived set in ../shared/data or $BIOCORESET_BPRNA), 'pool' (the "
            "run's own structure column) or a CSV path with sequence and structure columns"
        ),
    )
    predict_missing_structures: bool = field(
        default=False,
        metadata=_help(
            "fold missing structures with ViennaRNA (MFE); scored separately as task "
            "'structure_predicted', never mixed with real ones in 'structure'"
        ),
    )
    structure_max_length: int = field(
        default=150, metadata=_help("longest RNA used by the structure probe (pairs grow as L^2)")
    )
    min_separation: int = field(
        default=DEFAULT_MIN_SEPARATION,
        metadata=_help("smallest j - i of a candidate base pair (4: hairpin loops >= 3 nt)"),
    )
    heldout_fraction: float = field(
        default=0.1,
        metadata=_help("share of the pool held out, by whole clusters, for MLM and family tests"),
    )
    mlm_sequences: int = field(
        default=400, metadata=_help("held-out sequences scored for masked-LM perplexity")
    )
    probe_train_sequences: int = field(
        default=400, metadata=_help("most training sequences of a probe")
    )
    probe_test_sequences: int = field(default=300, metadata=_help("most test sequences of a probe"))
    per_class: int = field(
        default=30,
        metadata=_help("most sequences per class on each side of a classification probe"),
    )
    clustering: Literal["auto", "mmseqs", "kmer"] = field(
        default="auto",
        metadata=_help(
            "identity clustering for the splits: MMseqs2 ('auto' when installed) or the "
            "k-mer estimate"
        ),
    )
    min_identity: float = field(
        default=0.8, metadata=_help("identity threshold of the clusters kept on one side")
    )
    split_seed: int = field(
        default=0, metadata=_help("seed of the held-out and probe splits (shared by all seeds)")
    )
    device: str = field(
        default="auto", metadata=_help("'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:N'")
    )
    keep_checkpoints: Literal["all", "last", "none"] = field(
        default="all",
        metadata=_help("model checkpoints kept: every evaluated step, the last, none"),
    )

    def __post_init__(self) -> None:
        def fraction(name: str, low_open: bool = False) -> None:
            value = getattr(self, name)
            valid = isinstance(value, int | float) and not isinstance(value, bool)
            valid = valid and (0 < value < 1 if low_open else 0 <= value < 1)
            if not valid:
                interval = "(0, 1)" if low_open else "[0, 1)"
                raise ConfigError(f"{name} must be in {interval}, got {value!r}")

        def positive(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if not _is_int(value) or value < minimum:
                raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")

        fraction("pruning_rate")
        fraction("hard_cutoff")
        fraction("heldout_fraction", low_open=True)
        for name in (
            "n_strata",
            "epochs",
            "checkpoints",
            "layers",
            "embed_dim",
            "heads",
            "max_length",
            "max_tokens",
            "structure_max_length",
            "min_separation",
            "mlm_sequences",
            "per_class",
        ):
            positive(name)
        positive("probe_train_sequences", 2)
        positive("probe_test_sequences", 1)
        if self.budget not in ("epochs", "steps"):
            raise ConfigError(f"budget must be 'epochs' or 'steps', got {self.budget!r}")
        if self.steps is not None and (not _is_int(self.steps) or self.steps < 1):
            raise ConfigError(f"steps must be None or an integer >= 1, got {self.steps!r}")
        if self.embed_dim % self.heads:
            raise ConfigError(
                f"embed_dim ({self.embed_dim}) must be a multiple of heads ({self.heads})"
            )
        if not (
            isinstance(self.learning_rate, int | float)
            and math.isfinite(self.learning_rate)
            and self.learning_rate > 0
        ):
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if isinstance(self.tasks, str):
            if self.tasks != "auto":
                self.tasks = [t.strip() for t in self.tasks.split(",") if t.strip()]
        else:
            self.tasks = list(self.tasks)
        if self.tasks != "auto":
            unknown = [t for t in self.tasks if t not in TASKS]
            if unknown or not self.tasks:
                raise ConfigError(
                    f"tasks must be 'auto' or a list of {', '.join(TASKS)}, got {self.tasks!r}"
                )
        if not isinstance(self.structure_source, str) or not self.structure_source:
            raise ConfigError(
                f"structure_source must be {', '.join(STRUCTURE_SOURCES)} or a CSV path, "
                f"got {self.structure_source!r}"
            )
        if self.clustering not in ("auto", "mmseqs", "kmer"):
            raise ConfigError(
                f"clustering must be 'auto', 'mmseqs' or 'kmer', got {self.clustering!r}"
            )
        if not (isinstance(self.min_identity, int | float) and 0 < self.min_identity <= 1):
            raise ConfigError(f"min_identity must be in (0, 1], got {self.min_identity!r}")
        if not _is_int(self.split_seed):
            raise ConfigError(f"split_seed must be an integer, got {self.split_seed!r}")
        if not isinstance(self.device, str) or not re.fullmatch(
            r"auto|cpu|cuda(:\d+)?|mps", self.device
        ):
            raise ConfigError(
                f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}"
            )
        if self.keep_checkpoints not in ("all", "last", "none"):
            raise ConfigError(
                f"keep_checkpoints must be 'all', 'last' or 'none', got {self.keep_checkpoints!r}"
            )

    @classmethod
    def help(cls) -> str:
        """Every field with its default and documentation."""
        return "\n".join(
            f"{f.name} (default {f.default!r}): {f.metadata['help']}"
            for f in dataclasses.fields(cls)
        )

    @classmethod
    def demo(cls, **changes: Any) -> EvaluationConfig:
        """The demo experiment's settings, sized for 2 CPU cores: 4 epochs (the paper
        trains 10), 1,024-token batches (more updates for the same tokens, which small
        models on few data need) and 300 held-out sequences for perplexity. Five
        subsets x 3 seeds took 5 minutes on a quiet 2-core machine (9 when it
        was shared with other work)."""
        return cls(**{"epochs": 4, "max_tokens": 1024, "mlm_sequences": 300, **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EvaluationConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def result_key(self) -> dict[str, Any]:
        """The fields that change the curves (not where or what is kept on disk)."""
        values = self.to_dict()
        for irrelevant in ("device", "keep_checkpoints"):
            values.pop(irrelevant)
        return values


# ------------------------------------------------------------------------ names


def parse_subsets(subsets: str | Iterable[str]) -> list[str]:
    """Subset names from a list or a comma-separated string, checked and deduplicated.

    Raises:
        ConfigError: an empty list or a name that cannot be a folder name.
    """
    names = subsets.split(",") if isinstance(subsets, str) else list(subsets)
    names = list(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
    if not names:
        raise ConfigError("no subsets to evaluate")
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", name):
            raise ConfigError(f"subset name {name!r} must be letters, digits, '.', '_', '+' or '-'")
        match = RANDOM_MULTIPLE.fullmatch(name)
        if match and int(match.group(1)) < 1:
            raise ConfigError(f"subset {name!r}: the multiple must be >= 1")
    return names


def parse_seeds(seeds: int | Iterable[int]) -> list[int]:
    """``3`` -> ``[0, 1, 2]``; a list of seeds is checked and deduplicated.

    Raises:
        ConfigError: fewer than one seed, or a seed that is not an integer.
    """
    if _is_int(seeds):
        if seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    values = list(seeds)  # type: ignore[arg-type]
    if not values or not all(_is_int(s) for s in values):
        raise ConfigError(f"seeds must be a count >= 1 or a list of integers, got {seeds!r}")
    return list(dict.fromkeys(int(s) for s in values))


# ------------------------------------------------------------------------ task data


@dataclass
class StructureRecord:
    """A labelled RNA for the structure probe."""

    id: str
    sequence: str
    pairs: np.ndarray
    origin: str  # "reference" or "predicted"


def fold_structures(sequences: Sequence[str]) -> list[str]:
    """ViennaRNA minimum-free-energy structures (dot-brackets) of RNA sequences."""
    import RNA

    return [RNA.fold(sequence.replace("T", "U"))[0] for sequence in sequences]


def bprna_path() -> Path:
    """The bpRNA-derived structure set: ``$BIOCORESET_BPRNA``, else ``../shared/data`` beside
    the working directory or the source checkout.

    Raises:
        ConfigError: not found (the message says how to point at it).
    """
    candidates = []
    if os.environ.get("BIOCORESET_BPRNA"):
        candidates.append(Path(os.environ["BIOCORESET_BPRNA"]))
    candidates += [Path.cwd().parent / BPRNA_FILE, Path(__file__).resolve().parents[3] / BPRNA_FILE]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        "structure_source 'bprna': bprna.csv.gz not found in ../shared/data; set "
        "BIOCORESET_BPRNA or pass the CSV's path as structure_source"
    )


def load_structure_table(source: str, pool: SequenceSet | None = None) -> pd.DataFrame:
    """The structure set named by ``source`` as a table.

    Returns:
        ``id``, ``sequence`` (uppercase, U), ``structure`` (missing where unknown)
        and ``split`` (``train``/``test``, or missing when the source has none).

    Raises:
        ConfigError: unknown source, absent file, or a table without the columns.
    """
    if source == "squarna":
        from biocoreset_viz.datasets import load_demo

        data = load_demo("rna_structures")
        frame = pd.DataFrame(
            {
                "id": data.ids,
                "sequence": data.sequences,
                "structure": data.labels["structure"],
                "split": data.labels["split"],
            }
        )
    elif source == "pool":
        if pool is None or pool.labels is None or "structure" not in pool.labels:
            raise ConfigError(
                "structure_source 'pool': the run's sequences have no structure column"
            )
        frame = pd.DataFrame(
            {
                "id": pool.ids,
                "sequence": pool.sequences,
                "structure": pool.labels["structure"].to_numpy(),
                "split": None,
            }
        )
    else:
        path = bprna_path() if source == "bprna" else Path(source)
        if not path.is_file():
            raise ConfigError(
                f"structure_source must be {', '.join(STRUCTURE_SOURCES)} or an existing CSV "
                f"file, got {source!r}"
            )
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (ValueError, OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the structure table ({error})", path=path) from error
        missing = [c for c in ("sequence", "structure") if c not in frame]
        if missing:
            raise InputError(f"the structure table lacks columns {missing}", path=path)
        if "id" not in frame:
            frame["id"] = [f"structure{i}" for i in range(len(frame))]
        if "split" not in frame:
            frame["split"] = None
        frame["structure"] = frame["structure"].mask(frame["structure"].str.strip() == "")
        frame = frame[["id", "sequence", "structure", "split"]]
    frame = frame.reset_index(drop=True)
    frame["sequence"] = frame["sequence"].str.upper().str.replace("T", "U")
    split = frame["split"].astype(object)
    frame["split"] = split.where(split.isin(["train", "test"]), None)
    return frame


def hemopexin_blades() -> pd.DataFrame:
    """Repeats of four-bladed hemopexin-like domains, labelled by blade (1-4, N- to C-terminal).

    From the demo ``hemopexin`` set: proteins with exactly four repeats, each
    repeat's blade given by the order of its start coordinate in the protein.

    Returns:
        ``id``, ``sequence``, ``protein``, ``label`` (``blade1`` ... ``blade4``).
    """
    from biocoreset_viz.datasets import load_demo

    data = load_demo("hemopexin")
    coordinates = pd.Series(data.ids).str.extract(r"/(\d+)-(\d+)$")
    frame = pd.DataFrame(
        {
            "id": data.ids,
            "sequence": data.sequences,
            "protein": data.labels["protein"].to_numpy(),
            "start": pd.to_numeric(coordinates[0]),
        }
    ).dropna(subset=["start"])
    counts = frame.groupby("protein")["start"].transform("size")
    frame = frame[counts == 4].copy()
    frame["label"] = "blade" + frame.groupby("protein")["start"].rank(method="first").astype(
        int
    ).astype(str)
    return frame[["id", "sequence", "protein", "label"]].reset_index(drop=True)


def _known(labels: pd.Series) -> np.ndarray:
    text = labels.astype(str).str.strip().str.lower()
    return (labels.notna() & ~text.isin(UNKNOWN_LABELS)).to_numpy()


def _cap_per_class(
    indices: np.ndarray, labels: np.ndarray, per_class: int, total: int, rng: np.random.Generator
) -> np.ndarray:
    """At most ``per_class`` of each label, then at most ``total``, drawn at random (sorted)."""
    kept = []
    for label in np.unique(labels[indices]):
        members = indices[labels[indices] == label]
        if len(members) > per_class:
            members = rng.choice(members, per_class, replace=False)
        kept.append(members)
    chosen = np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.int64)
    if len(chosen) > total:
        chosen = np.sort(rng.choice(chosen, total, replace=False))
    return chosen.astype(np.int64)


def _sample(indices: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) <= count:
        return indices
    return np.sort(rng.choice(indices, count, replace=False))


# ------------------------------------------------------------------------ tasks


@dataclass
class MaskedLMTask:
    """Masked-LM loss and perplexity on held-out sequences (fixed masks)."""

    sequences: list[str]
    max_length: int
    max_tokens: int = 8192
    seed: int = 0
    name: str = "mlm"

    def evaluate(self, model, alphabet) -> list[tuple[str, str, float]]:
        from biocoreset_viz.train import mlm_loss

        loss = mlm_loss(
            model,
            alphabet,
            self.sequences,
            seed=self.seed,
            max_tokens=self.max_tokens,
            max_length=self.max_length,
        )
        return [(self.name, "loss", loss), (self.name, "perplexity", math.exp(loss))]


@dataclass
class ClassificationTask:
    """A linear probe on mean-pooled embeddings: accuracy and macro-F1."""

    name: str
    train_sequences: list[str]
    train_labels: list[str]
    test_sequences: list[str]
    test_labels: list[str]
    max_length: int
    max_tokens: int = 8192

    def evaluate(self, model, alphabet) -> list[tuple[str, str, float]]:
        from biocoreset_viz.probes import classification_probe, embed_sequences

        def pooled(sequences: list[str]) -> np.ndarray:
            features = embed_sequences(
                model, alphabet, sequences, max_length=self.max_length, max_tokens=self.max_tokens
            )
            return np.stack([f.pooled for f in features])  # (N, D)

        metrics = classification_probe(
            pooled(self.train_sequences),
            self.train_labels,
            pooled(self.test_sequences),
            self.test_labels,
        )
        return [(self.name, metric, value) for metric, value in metrics.items()]


@dataclass
class StructureTask:
    """Base pairs from embeddings and attention maps (:class:`~biocoreset_viz.probes.StructureProbe`).

    Test structures of origin ``reference`` are scored as task ``structure``, those
    folded by ViennaRNA as ``structure_predicted``.
    """

    train: list[StructureRecord]
    test: list[StructureRecord]
    min_separation: int = DEFAULT_MIN_SEPARATION
    max_tokens: int = 8192
    seed: int = 0
    name: str = "structure"

    def _examples(self, model, alphabet, records: list[StructureRecord]) -> list:
        from biocoreset_viz.probes import embed_sequences, structure_example

        features = embed_sequences(
            model,
            alphabet,
            [r.sequence for r in records],
            max_tokens=self.max_tokens,
            attention=True,
        )
        return [
            structure_example(
                record.pairs,
                feature.residues,
                feature.attention,
                min_separation=self.min_separation,
                origin=record.origin,
            )
            for record, feature in zip(records, features, strict=True)
        ]

    def evaluate(self, model, alphabet) -> list[tuple[str, str, float]]:
        from biocoreset_viz.probes import StructureProbe

        probe = StructureProbe(seed=self.seed).fit(self._examples(model, alphabet, self.train))
        examples = self._examples(model, alphabet, self.test)
        rows = []
        for origin, task in (("reference", self.name), ("predicted", f"{self.name}_predicted")):
            chosen = [e for e in examples if e.origin == origin]
            if chosen:
                rows += [(task, m, v) for m, v in probe.evaluate(chosen).items()]
        return rows


Task = MaskedLMTask | ClassificationTask | StructureTask


@dataclass
class EvaluationPlan:
    """Who pretrains on what and who is tested on what, fixed before any model is trained.

    Attributes:
        pretrain: indices into the run's pool that subsets are drawn from.
        heldout: indices of the held-out pool side (whole clusters).
        tasks: the prepared tasks.
        splits: one row per (dataset, sequence, role): ``dataset`` (``pool``,
            ``mlm``, ``family``, ``structure``, ``blade``), ``id``, ``cluster``
            (joint, comparable across datasets), ``role`` (``pretrain``,
            ``heldout``, ``excluded`` for the pool; ``train``, ``test``,
            ``dropped`` or ``unused`` for the tasks).
        clustering: how the identity clusters were made.
        notes: what was dropped or skipped, and why.
    """

    pretrain: np.ndarray
    heldout: np.ndarray
    tasks: list[Task]
    splits: pd.DataFrame
    clustering: str
    notes: list[str] = field(default_factory=list)


def _structure_records(
    frame: pd.DataFrame, config: EvaluationConfig, notes: list[str]
) -> pd.DataFrame:
    """Rows usable by the structure probe, with parsed pairs and their origin."""
    frame = frame.copy()
    frame["origin"] = np.where(frame["structure"].notna(), "reference", "predicted")
    too_long = frame["sequence"].str.len() > config.structure_max_length
    if too_long.any():
        notes.append(
            f"structure: {int(too_long.sum())} RNAs longer than "
            f"{config.structure_max_length} nt not used"
        )
    frame = frame[~too_long]
    missing = frame["structure"].isna()
    if missing.any() and config.predict_missing_structures:
        frame.loc[missing, "structure"] = fold_structures(frame.loc[missing, "sequence"].tolist())
        notes.append(f"structure: {int(missing.sum())} missing structures folded by ViennaRNA")
    elif missing.any():
        frame = frame[~missing]
    pairs, keep = [], []
    for sequence, structure in zip(frame["sequence"], frame["structure"], strict=True):
        try:
            parsed = parse_dot_bracket(structure)
            ok = len(structure) == len(sequence)
        except ValueError:
            parsed, ok = None, False
        pairs.append(parsed)
        keep.append(ok)
    frame["pairs"] = pairs
    bad = len(keep) - sum(keep)
    if bad:
        notes.append(f"structure: {bad} structures unreadable or of the wrong length, not used")
    return frame[np.array(keep, dtype=bool)].reset_index(drop=True)


def _decide_tasks(config: EvaluationConfig, pool: SequenceSet) -> list[str]:
    has_family = (
        pool.labels is not None and "family" in pool.labels and _known(pool.labels["family"]).any()
    )
    if config.tasks == "auto":
        if pool.molecule == "rna":
            return ["mlm", "structure", *(["family"] if has_family else [])]
        from importlib.util import find_spec

        return ["mlm", *(["blade"] if find_spec("pyfamsa") else [])]
    chosen = list(config.tasks)
    rna_only = [t for t in chosen if t in ("structure", "family") and pool.molecule != "rna"]
    if rna_only:
        raise ConfigError(f"task {rna_only[0]!r} needs an RNA pool; this run's pool is protein")
    if "blade" in chosen and pool.molecule != "protein":
        raise ConfigError("task 'blade' needs a protein pool; this run's pool is RNA")
    if "family" in chosen and not has_family:
        raise ConfigError("task 'family' needs a 'family' label column in the run's sequences")
    return chosen


class _SplitLog:
    """Collects the rows of :attr:`EvaluationPlan.splits`."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def record(self, dataset: str, ids, clusters, roles) -> None:
        self.frames.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "id": [str(i) for i in ids],
                    "cluster": np.asarray(clusters, dtype=np.int64),
                    "role": list(roles),
                }
            )
        )

    def table(self) -> pd.DataFrame:
        return pd.concat(self.frames, ignore_index=True)


def _structure_task(
    structures: pd.DataFrame,
    clusters: np.ndarray,
    config: EvaluationConfig,
    rng: np.random.Generator,
    log: _SplitLog,
    notes: list[str],
) -> tuple[StructureTask, np.ndarray]:
    """The structure probe's task and the clusters of its test RNAs.

    The source's own train/test split is kept when it has one (a test RNA that
    shares a cluster with a training RNA is dropped); otherwise whole clusters
    are split in two.
    """
    from biocoreset_viz.splits import group_split

    split = structures["split"].to_numpy(dtype=object)
    if pd.isna(split).all():
        _, test_side = group_split(clusters, 0.5, seed=config.split_seed)
        split = np.full(len(structures), "train", dtype=object)
        split[test_side] = "test"
    role = np.where(split == "test", "test", "train").astype(object)
    straddling = (role == "test") & np.isin(clusters, clusters[role == "train"])
    if straddling.any():
        notes.append(
            f"structure: {int(straddling.sum())} test RNAs share an identity cluster with "
            "training RNAs and were dropped"
        )
    role[straddling] = "dropped"
    train = _sample(np.flatnonzero(role == "train"), config.probe_train_sequences, rng)
    test = _sample(np.flatnonzero(role == "test"), config.probe_test_sequences, rng)
    if len(train) < 2 or not len(test):
        raise ConfigError(
            f"structure: {len(train)} training and {len(test)} test RNAs remain after the "
            "cluster split; use another structure_source"
        )
    role[np.isin(role, ["train", "test"])] = "unused"
    role[train], role[test] = "train", "test"
    log.record("structure", structures["id"], clusters, role)

    def records(rows: np.ndarray) -> list[StructureRecord]:
        return [
            StructureRecord(
                str(structures["id"].iloc[i]),
                structures["sequence"].iloc[i],
                structures["pairs"].iloc[i],
                structures["origin"].iloc[i],
            )
            for i in rows
        ]

    task = StructureTask(
        records(train),
        records(test),
        min_separation=config.min_separation,
        max_tokens=config.max_tokens,
        seed=config.split_seed,
    )
    return task, clusters[test]


def _blade_task(
    blades: pd.DataFrame,
    clusters: np.ndarray,
    config: EvaluationConfig,
    rng: np.random.Generator,
    log: _SplitLog,
) -> tuple[ClassificationTask, np.ndarray]:
    """The hemopexin blade probe (whole clusters split 70/30) and its test clusters."""
    from biocoreset_viz.splits import group_split

    train_side, test_side = group_split(clusters, 0.3, seed=config.split_seed)
    train = _sample(train_side, config.probe_train_sequences, rng)
    test = _sample(test_side, config.probe_test_sequences, rng)
    role = np.full(len(blades), "unused", dtype=object)
    role[train], role[test] = "train", "test"
    log.record("blade", blades["id"], clusters, role)
    label = blades["label"].to_numpy(dtype=object)
    task = ClassificationTask(
        "blade",
        blades["sequence"].iloc[train].tolist(),
        label[train].tolist(),
        blades["sequence"].iloc[test].tolist(),
        label[test].tolist(),
        max_length=config.max_length,
        max_tokens=config.max_tokens,
    )
    return task, clusters[test]


def _family_task(
    pool: SequenceSet,
    pool_cluster: np.ndarray,
    pretrain: np.ndarray,
    heldout: np.ndarray,
    config: EvaluationConfig,
    rng: np.random.Generator,
    log: _SplitLog,
) -> ClassificationTask:
    """The family probe: trained on the pretraining side, tested on the held-out clusters,
    at most ``per_class`` sequences per family on each side."""
    family = pool.labels["family"].astype(object).to_numpy()
    known = _known(pool.labels["family"])
    train_candidates = pretrain[known[pretrain]]
    seen = np.unique(family[train_candidates].astype(str))
    test_candidates = heldout[known[heldout] & np.isin(family[heldout].astype(str), seen)]
    train = _cap_per_class(
        train_candidates, family, config.per_class, config.probe_train_sequences, rng
    )
    test = _cap_per_class(
        test_candidates, family, config.per_class, config.probe_test_sequences, rng
    )
    if len(np.unique(family[train].astype(str))) < 2 or not len(test):
        raise ConfigError(
            "family: fewer than two families to train on, or no held-out sequence of a "
            "family seen in training"
        )
    used = np.concatenate([train, test])
    roles = ["train"] * len(train) + ["test"] * len(test)
    log.record("family", np.asarray(pool.ids, dtype=object)[used], pool_cluster[used], roles)
    return ClassificationTask(
        "family",
        [pool.sequences[i] for i in train],
        family[train].astype(str).tolist(),
        [pool.sequences[i] for i in test],
        family[test].astype(str).tolist(),
        max_length=config.max_length,
        max_tokens=config.max_tokens,
    )


def _sample_structures(
    structures: pd.DataFrame, config: EvaluationConfig, rng: np.random.Generator
) -> pd.DataFrame:
    """A seeded sample of each side of a large source, so clustering stays quick."""
    cap = 3 * (config.probe_train_sequences + config.probe_test_sequences)
    keep = [
        _sample(np.flatnonzero(mask), cap, rng)
        for mask in (
            structures["split"] == "train",
            structures["split"] == "test",
            structures["split"].isna(),
        )
    ]
    return structures.iloc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def prepare_evaluation(pool: SequenceSet, config: EvaluationConfig) -> EvaluationPlan:
    """Build the leakage-free splits and the tasks (see the module docstring).

    Args:
        pool: the run's scored sequences, with labels (``cluster``, ``family``,
            ``structure``) when it has them.
        config: the settings.

    Raises:
        ConfigError: a task that the data cannot support, or too little data.
    """
    from biocoreset_viz.splits import group_split, identity_clusters, join_labelings

    notes: list[str] = []
    tasks = _decide_tasks(config, pool)
    rng = np.random.default_rng(config.split_seed)
    labels = pool.labels if pool.labels is not None else pd.DataFrame(index=range(len(pool)))
    structures = pd.DataFrame(columns=["id", "sequence", "structure", "split", "origin", "pairs"])
    if "structure" in tasks:
        table = load_structure_table(config.structure_source, pool)
        structures = _sample_structures(_structure_records(table, config, notes), config, rng)
    blades = hemopexin_blades() if "blade" in tasks else pd.DataFrame(columns=["id", "sequence"])

    # joint clusters over the pool and every task set: identity, plus the pool's own labels
    sequences = [*pool.sequences, *structures["sequence"], *blades["sequence"]]
    identity, described = identity_clusters(
        sequences,
        molecule=pool.molecule,
        min_identity=config.min_identity,
        method=config.clustering,
    )
    given: list[object] = [None] * len(sequences)
    if "cluster" in labels:
        given[: len(pool)] = [None if pd.isna(c) else f"pool:{c}" for c in labels["cluster"]]
        described += " joined with the pool's own cluster labels"
    joint = join_labelings(len(sequences), [identity, given])
    pool_cluster = joint[: len(pool)]
    structure_cluster = joint[len(pool) : len(pool) + len(structures)]
    blade_cluster = joint[len(pool) + len(structures) :]

    rest, heldout = group_split(pool_cluster, config.heldout_fraction, seed=config.split_seed)
    log = _SplitLog()
    built: list[Task] = []
    test_clusters = [pool_cluster[heldout]]
    if "structure" in tasks:
        task, clusters = _structure_task(structures, structure_cluster, config, rng, log, notes)
        built.append(task)
        test_clusters.append(clusters)
    if "blade" in tasks:
        task, clusters = _blade_task(blades, blade_cluster, config, rng, log)
        built.append(task)
        test_clusters.append(clusters)

    # the pretraining pool: no relative of any test sequence
    excluded = np.isin(pool_cluster[rest], np.concatenate(test_clusters))
    pretrain = rest[~excluded]
    if excluded.any():
        notes.append(
            f"pool: {int(excluded.sum())} sequences share a cluster with a probe test "
            "sequence and are not pretrained on"
        )
    pool_role = np.full(len(pool), "pretrain", dtype=object)
    pool_role[heldout] = "heldout"
    pool_role[rest[excluded]] = "excluded"
    log.record("pool", pool.ids, pool_cluster, pool_role)
    if len(pretrain) < 10:
        raise ConfigError(
            f"only {len(pretrain)} pool sequences are left to pretrain on after holding out "
            "test clusters; use a larger pool or a smaller heldout_fraction"
        )
    if "family" in tasks:
        built.append(_family_task(pool, pool_cluster, pretrain, heldout, config, rng, log))
    if "mlm" in tasks:
        sample = _sample(heldout, config.mlm_sequences, rng)
        ids = np.asarray(pool.ids, dtype=object)[sample]
        log.record("mlm", ids, pool_cluster[sample], ["test"] * len(sample))
        mlm = MaskedLMTask(
            [pool.sequences[i] for i in sample],
            max_length=config.max_length,
            max_tokens=config.max_tokens,
            seed=config.split_seed,
        )
        built.insert(0, mlm)
    return EvaluationPlan(pretrain, heldout, built, log.table(), described, notes)


def leakage_report(splits: pd.DataFrame) -> dict[str, int]:
    """Test sequences whose cluster also occurs on a training side, per task (all 0 when clean).

    A test sequence leaks when its joint cluster has a member in its own probe's
    training set or in the pretraining pool.
    """
    pretrain = set(
        splits.loc[(splits["dataset"] == "pool") & (splits["role"] == "pretrain"), "cluster"]
    )
    report = {}
    for dataset, rows in splits[splits["dataset"] != "pool"].groupby("dataset", sort=True):
        train = set(rows.loc[rows["role"] == "train", "cluster"])
        test = rows[rows["role"] == "test"]
        report[str(dataset)] = int(test["cluster"].isin(train | pretrain).sum())
    return report


# ------------------------------------------------------------------------ subsets


@dataclass
class SubsetDraw:
    """One subset for one seed: which pool sequences, and how they were chosen."""

    subset: str
    seed: int
    indices: np.ndarray  # into the run's pool, sorted
    method: str
    params: dict[str, Any]
    alias_of: str | None = None


def draw_subset(
    name: str,
    seed: int,
    *,
    scores: np.ndarray,
    pretrain: np.ndarray,
    config: EvaluationConfig,
    embeddings: np.ndarray | None = None,
    run_dir: Path | None = None,
) -> SubsetDraw:
    """The pool indices of subset ``name`` for ``seed`` (see the module docstring).

    Args:
        name: a subset name.
        seed: seeds CCI's and the random draws.
        scores: self-influence of the whole pool, ``(N,)``.
        pretrain: indices of the pretraining pool.
        config: pruning rate and CCI settings.
        embeddings: ``(N, D)`` pool embeddings, for ``diversity``.
        run_dir: where saved selections are looked up.

    Raises:
        ConfigError: an unknown subset name.
    """
    from biocoreset_viz.selection import Selection, coreset_size, make_selector

    n_pool = len(pretrain)
    n = coreset_size(n_pool, config.pruning_rate, None)
    multiple = RANDOM_MULTIPLE.fullmatch(name)
    if name == "full":
        return SubsetDraw(name, seed, np.sort(pretrain), "full", {})
    if multiple or name in SELECTOR_SUBSETS:
        method = "random" if multiple else name
        params: dict[str, Any] = {}
        if multiple:
            params["n_select"] = min(int(multiple.group(1)) * n, n_pool)
        else:
            params["n_select"] = n
        if method in ("cci", "random", "diversity"):
            params["random_state"] = seed
        if method == "cci":
            params.update(hard_cutoff=config.hard_cutoff, n_strata=config.n_strata)
        selector = make_selector(method, **params)
        chosen = selector.fit_select(
            scores[pretrain], None if embeddings is None else embeddings[pretrain]
        )
        return SubsetDraw(name, seed, np.sort(pretrain[chosen]), method, params)
    if run_dir is not None and Selection.exists(run_dir, name):
        saved = Selection.load(run_dir, name)
        if saved.n_total != len(scores):
            raise ConfigError(
                f"selection {name!r} was made on a pool of {saved.n_total}, not this run's {len(scores)}"
            )
        chosen = np.intersect1d(saved.indices, pretrain)
        return SubsetDraw(
            name,
            seed,
            chosen,
            saved.method,
            {"selection": name, "dropped": len(saved) - len(chosen)},
        )
    raise ConfigError(
        f"unknown subset {name!r}: use cci, topi, bottomi, diversity, random, random<K>x, full "
        "or the name of a selection saved in RUN_DIR/selections"
    )


def planned_steps(lengths: np.ndarray, config: EvaluationConfig) -> int:
    """Optimiser steps of one pass over sequences of these lengths (as ``train_mlm`` batches)."""
    from biocoreset_viz.models import token_budget_batches

    capped = np.minimum(np.asarray(lengths, dtype=np.int64), config.max_length)
    return len(token_budget_batches(capped, config.max_tokens, extra_tokens=2))


# ------------------------------------------------------------------------ curves I/O


def curves_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a curves table with the contract's columns and dtypes."""
    frame = pd.DataFrame(list(rows), columns=list(CURVE_COLUMNS))
    return frame.astype(
        {
            "subset": str,
            "seed": np.int64,
            "step": np.int64,
            "tokens_seen": np.int64,
            "task": str,
            "metric": str,
            "value": np.float64,
        }
    )


def _write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue())


def load_curves(run_or_evaluation_dir: str | Path) -> pd.DataFrame:
    """``curves.parquet`` of a run directory or of an evaluation directory.

    Raises:
        RunDirectoryError: there is none.
    """
    base = Path(run_or_evaluation_dir)
    for path in (base / EVALUATION_DIR / CURVES_NAME, base / CURVES_NAME):
        if path.is_file():
            return curves_frame(pd.read_parquet(path).to_dict("records"))
    raise RunDirectoryError(
        f"{base}: no {EVALUATION_DIR}/{CURVES_NAME} (run `biocoreset evaluate`)"
    )


UNTRAINED = "untrained"
METRIC_SUMMARY_COLUMNS = [
    "subset",
    "task",
    "metric",
    "mean",
    "sd",
    "n_seeds",
    "step",
    "tokens_seen",
]


def _aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    grouped = rows.groupby(["subset", "task", "metric"], sort=True)
    table = grouped.agg(
        mean=("value", "mean"),
        sd=("value", "std"),
        n_seeds=("seed", "nunique"),
        step=("step", "mean"),
        tokens_seen=("tokens_seen", "mean"),
    ).reset_index()
    table["sd"] = table["sd"].fillna(0.0)
    return table[METRIC_SUMMARY_COLUMNS]


def final_metrics(curves: pd.DataFrame, *, untrained: bool = False) -> pd.DataFrame:
    """Each subset's metrics at the end of training: mean, sd and count over seeds.

    Args:
        curves: a curves table.
        untrained: add a subset ``"untrained"``: the models before training (step
            0; every subset of a seed starts from the same weights), the floor that
            pretraining must beat.

    Returns:
        ``subset``, ``task``, ``metric``, ``mean``, ``sd`` (sample standard
        deviation over seeds; 0 for one seed), ``n_seeds``, ``step`` and
        ``tokens_seen`` (means over seeds).
    """
    if curves.empty:
        return pd.DataFrame(columns=METRIC_SUMMARY_COLUMNS)
    last = curves.groupby(["subset", "seed"])["step"].transform("max")
    table = _aggregate(curves[curves["step"] == last])
    if untrained:
        start = curves[curves["step"] == 0].drop_duplicates(["seed", "task", "metric"])
        if len(start):
            table = pd.concat([_aggregate(start.assign(subset=UNTRAINED)), table])
    return table.reset_index(drop=True)


def results_table(
    curves: pd.DataFrame,
    *,
    subsets: Sequence[str] | None = None,
    digits: int = 3,
    untrained: bool = True,
) -> pd.DataFrame:
    """The final metrics as text, ``mean ± sd``: one row per subset, one column per task/metric.

    Arrows in the column names say whether higher or lower is better.

    Args:
        curves: a curves table.
        subsets: row order (default: as they first appear).
        digits: decimals.
        untrained: start with a row for the models before training (see
            :func:`final_metrics`).
    """
    final = final_metrics(curves, untrained=untrained)
    order = list(subsets) if subsets is not None else list(dict.fromkeys(curves["subset"]))
    order = [UNTRAINED, *order] if untrained else order
    final["cell"] = [
        f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(final["mean"], final["sd"], strict=True)
    ]
    final["column"] = [
        f"{t} {m}" + (" ↓" if (t, m) in LOWER_IS_BETTER else " ↑")
        for t, m in zip(final["task"], final["metric"], strict=True)
    ]
    wide = final.pivot(index="subset", columns="column", values="cell")
    seeds = final.groupby("subset")["n_seeds"].max()
    steps = final.groupby("subset")["step"].max().round().astype(int)
    wide.insert(0, "steps", steps)
    wide.insert(0, "seeds", seeds)
    return wide.reindex([s for s in order if s in wide.index])


def versus_baseline(
    curves: pd.DataFrame,
    *,
    baseline: str = "random",
    task: str = "mlm",
    metric: str = "perplexity",
) -> pd.DataFrame:
    """Each subset's final metric against a baseline subset, with the seeds' spread.

    A difference is only worth reading when it is larger than the noise between
    seeds: ``beyond_spread`` says whether ``|difference|`` exceeds ``spread``, the
    sum of the two subsets' standard deviations over seeds (a rough yardstick,
    not a significance test; with one seed both are 0 and nothing is within it).

    Args:
        curves: a curves table.
        baseline: the subset compared against (e.g. ``"random"``: random of the
            coreset's size).
        task, metric: which final metric (e.g. ``"mlm"``, ``"perplexity"``).

    Returns:
        One row per other subset, in the order of the curves: ``subset``,
        ``mean``, ``sd``, ``n_seeds``, ``difference`` (subset minus baseline),
        ``spread``, ``beyond_spread`` and ``better`` (beyond the spread and in the
        metric's good direction: lower for loss and perplexity, else higher).

    Raises:
        ValueError: the baseline or the task/metric is not in the curves.
    """
    final = final_metrics(curves)
    rows = final[(final["task"] == task) & (final["metric"] == metric)].set_index("subset")
    if rows.empty:
        raise ValueError(f"the curves have no {task} {metric}")
    if baseline not in rows.index:
        raise ValueError(f"no subset {baseline!r} with {task} {metric}; have {sorted(rows.index)}")
    base = rows.loc[baseline]
    order = [s for s in dict.fromkeys(curves["subset"]) if s in rows.index and s != baseline]
    table = rows.loc[order, ["mean", "sd", "n_seeds"]].reset_index()
    table["difference"] = table["mean"] - base["mean"]
    table["spread"] = table["sd"] + base["sd"]
    table["beyond_spread"] = table["difference"].abs() > table["spread"]
    sign = -1.0 if (task, metric) in LOWER_IS_BETTER else 1.0
    table["better"] = table["beyond_spread"] & (sign * table["difference"] > 0)
    return table


def format_table(table: pd.DataFrame) -> str:
    """A results table as Markdown (no extra dependency)."""
    header = ["subset", *[str(c) for c in table.columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for subset, row in table.iterrows():
        lines.append("| " + " | ".join([str(subset), *[str(v) for v in row.tolist()]]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ running


@dataclass
class EvaluationResult:
    """What :func:`evaluate` produced.

    Attributes:
        directory: the evaluation directory (``RUN_DIR/evaluation`` by default).
        curves: the learning curves (the contract's columns).
        parts: one row per finished (subset, seed): size, steps, tokens, seconds,
            alias.
        plan: the splits and tasks.
        aliases: subset -> the subset it equals.
        subsets: the subsets asked for, in order.
    """

    directory: Path
    curves: pd.DataFrame
    parts: pd.DataFrame
    plan: EvaluationPlan
    aliases: dict[str, str] = field(default_factory=dict)
    subsets: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Plot-ready mean ± sd per subset and checkpoint (:func:`summarize_curves`)."""
        return summarize_curves(self.curves)

    def table(self, digits: int = 3) -> pd.DataFrame:
        """Final metrics, ``mean ± sd`` per subset (:func:`results_table`)."""
        return results_table(self.curves, subsets=self.subsets or None, digits=digits)


def _part_dir(directory: Path, subset: str, seed: int) -> Path:
    return directory / PARTS_DIR / subset / f"seed-{seed}"


def part_done(directory: Path, subset: str, seed: int) -> bool:
    """Whether (subset, seed) finished in this evaluation directory."""
    return (_part_dir(directory, subset, seed) / RESULT_NAME).is_file()


def _finished_parts(directory: Path) -> list[dict[str, Any]]:
    return [
        read_json(path) for path in sorted((directory / PARTS_DIR).glob(f"*/seed-*/{RESULT_NAME}"))
    ]


def _collect_curves(directory: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(_part_dir(directory, part["subset"], part["seed"]) / CURVES_NAME)
        for part in _finished_parts(directory)
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return curves_frame([])
    curves = curves_frame(pd.concat(frames, ignore_index=True).to_dict("records"))
    return curves.sort_values(["subset", "seed", "step", "task", "metric"], ignore_index=True)


def _evaluate_tasks(
    tasks: Sequence[Task], model, alphabet, step: int, tokens: int, draw
) -> list[dict]:
    rows = []
    for task in tasks:
        for task_name, metric, value in task.evaluate(model, alphabet):
            rows.append(
                {
                    "subset": draw.subset,
                    "seed": draw.seed,
                    "step": step,
                    "tokens_seen": tokens,
                    "task": task_name,
                    "metric": metric,
                    "value": float(value),
                }
            )
    return rows


def _run_part(
    draw: SubsetDraw,
    *,
    pool: SequenceSet,
    plan: EvaluationPlan,
    config: EvaluationConfig,
    directory: Path,
    total_steps: int,
    initial_rows: dict[int, list[dict]],
    progress: bool,
) -> dict[str, Any]:
    """Pretrain and evaluate one (subset, seed); its result.json is written last."""
    import torch

    from biocoreset_viz.influence import resolve_device
    from biocoreset_viz.models import alphabet_for_molecule, build_esm2, save_model
    from biocoreset_viz.train import train_mlm

    part_dir = _part_dir(directory, draw.subset, draw.seed)
    if part_dir.exists():  # an interrupted attempt: start it over
        shutil.rmtree(part_dir)
    part_dir.mkdir(parents=True)
    started = time.perf_counter()
    _write_draw(part_dir, draw, pool)
    result: dict[str, Any] = {
        "subset": draw.subset,
        "seed": draw.seed,
        "n_sequences": len(draw.indices),
        "method": draw.method,
        "alias_of": draw.alias_of,
    }
    if draw.alias_of is not None:
        source = pd.read_parquet(_part_dir(directory, draw.alias_of, draw.seed) / CURVES_NAME)
        source["subset"] = draw.subset
        _write_parquet(part_dir / CURVES_NAME, curves_frame(source.to_dict("records")))
        target = read_json(_part_dir(directory, draw.alias_of, draw.seed) / RESULT_NAME)
        result.update({k: target[k] for k in ("steps", "epochs", "tokens_seen")}, seconds=0.0)
        write_json(part_dir / RESULT_NAME, result)
        return result

    device = resolve_device(config.device)
    alphabet = alphabet_for_molecule(pool.molecule)
    model = build_esm2(config.layers, config.embed_dim, config.heads, alphabet, seed=draw.seed)
    model.to(device)
    rows: list[dict] = []
    if draw.seed not in initial_rows:  # every subset of a seed starts from the same weights
        initial_rows[draw.seed] = _evaluate_tasks(plan.tasks, model, alphabet, 0, 0, draw)
    rows += [{**row, "subset": draw.subset} for row in initial_rows[draw.seed]]

    sequences = [pool.sequences[i] for i in draw.indices]
    if config.budget == "epochs":
        epochs, max_steps = config.epochs, None
        planned = planned_steps(pool.lengths[draw.indices], config) * config.epochs
    else:
        epochs, max_steps, planned = None, total_steps, total_steps
    every = max(1, math.ceil(planned / config.checkpoints))
    checkpoint_dir = part_dir / "checkpoints"

    def on_checkpoint(step: int, network, log: list[dict]) -> None:
        rows.extend(
            _evaluate_tasks(plan.tasks, network, alphabet, step, int(log[-1]["tokens_seen"]), draw)
        )
        last = step >= planned
        if config.keep_checkpoints == "all" or (config.keep_checkpoints == "last" and last):
            # save_model writes in place: write beside, then rename, so a checkpoint is whole or absent
            partial = save_model(network, alphabet, checkpoint_dir / ".partial.pt", half=True)
            os.replace(partial, checkpoint_dir / f"step-{step:07d}.pt")

    log = train_mlm(
        model,
        alphabet,
        sequences,
        epochs=epochs,
        max_steps=max_steps,
        max_tokens=config.max_tokens,
        max_length=config.max_length,
        crop="random",
        lr=config.learning_rate,
        seed=draw.seed,
        device=device,
        checkpoint_every=every,
        on_checkpoint=on_checkpoint,
        progress=progress,
    )
    _write_parquet(part_dir / "train_log.parquet", pd.DataFrame(log))
    _write_parquet(part_dir / CURVES_NAME, curves_frame(rows))
    result.update(
        steps=int(log[-1]["step"]),
        epochs=int(log[-1]["epoch"]),
        tokens_seen=int(log[-1]["tokens_seen"]),
        final_train_loss=float(log[-1]["loss"]),
        seconds=round(time.perf_counter() - started, 2),
        threads=torch.get_num_threads(),
    )
    write_json(part_dir / RESULT_NAME, result)
    return result


def _write_draw(part_dir: Path, draw: SubsetDraw, pool: SequenceSet) -> None:
    write_json(
        part_dir / "subset.json",
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


def _pool_with_labels(run_dir: Path, manifest: dict[str, Any], table) -> SequenceSet:
    from biocoreset_viz.runs import run_sequences

    pool = run_sequences(run_dir, manifest)
    if list(pool.ids) != [str(i) for i in table.ids]:
        raise RunDirectoryError(
            f"{run_dir}: the scored ids do not match the sequences recorded in the manifest"
        )
    label_columns = [c for c in ("family", "cluster", "structure") if c in table.frame]
    if label_columns and (pool.labels is None or not set(label_columns) <= set(pool.labels)):
        extra = table.frame[label_columns].reset_index(drop=True)
        pool.labels = extra if pool.labels is None else pool.labels.join(extra, rsuffix="_scores")
    return pool


def _identity(run_dir: Path, manifest: dict[str, Any], config: EvaluationConfig) -> dict[str, Any]:
    run_identity = manifest.get("identity") or {"input": manifest.get("input")}
    return {"run": run_identity, "config": config.result_key()}


def evaluate(
    run_dir: str | Path,
    subsets: str | Iterable[str] = DEFAULT_SUBSETS,
    seeds: int | Iterable[int] = 3,
    config: EvaluationConfig | None = None,
    *,
    evaluation_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_part: Callable[[dict[str, Any]], None] | None = None,
) -> EvaluationResult:
    """Pretrain a fresh model on each subset and seed, probe its checkpoints, write the curves.

    See the module docstring for the subsets, budget, tasks, splits and files.

    Args:
        run_dir: a scored run directory (``biocoreset score``).
        subsets: names, a list or a comma-separated string.
        seeds: a count (``3`` = seeds 0, 1, 2) or a list of seeds.
        config: the settings (default :class:`EvaluationConfig`).
        evaluation_dir: where to write (default ``RUN_DIR/evaluation``).
        overwrite: discard an evaluation made with other settings.
        progress: progress bars.
        on_part: called with each part's result after it finishes.

    Returns:
        An :class:`EvaluationResult`; its curves are also in ``curves.parquet``.

    Raises:
        RunDirectoryError: not a scored run, or an evaluation with other settings.
        ConfigError: bad settings, subsets, seeds or tasks.
    """
    from tqdm.auto import tqdm

    from biocoreset_viz.runs import ScoreTable

    config = config or EvaluationConfig()
    names = parse_subsets(subsets)
    seed_list = parse_seeds(seeds)
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    table = ScoreTable.load(run_dir, embeddings="diversity" in names)
    if not len(table):
        raise RunDirectoryError(f"{run_dir}: the run has no scores")
    pool = _pool_with_labels(run_dir, manifest, table)
    directory = Path(evaluation_dir) if evaluation_dir is not None else run_dir / EVALUATION_DIR

    identity = _identity(run_dir, manifest, config)
    config_path = directory / CONFIG_NAME
    if config_path.is_file():
        recorded = read_json(config_path).get("identity")
        if json.loads(json.dumps(identity, default=str)) != recorded:
            if not overwrite:
                raise RunDirectoryError(
                    f"{directory} holds an evaluation with other settings or of another run; "
                    "use another directory or overwrite=True (--overwrite) to start over"
                )
            shutil.rmtree(directory)
    plan = prepare_evaluation(pool, config)
    splits_path = directory / SPLITS_NAME
    if splits_path.is_file() and not pd.read_parquet(splits_path).equals(plan.splits):
        if not overwrite:
            raise RunDirectoryError(
                f"{directory}: the splits differ from the recorded ones (was the clustering "
                "program installed or removed?); use overwrite=True (--overwrite) to start over"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_json(
        config_path,
        {"identity": identity, "config": config.to_dict(), "run_dir": str(run_dir.resolve())},
    )
    if not splits_path.is_file():
        _write_parquet(splits_path, plan.splits)

    scores = table.scores
    embeddings = None if table.embeddings is None else table.embeddings.astype(np.float32)
    draws: list[SubsetDraw] = []
    for seed in seed_list:
        seen: dict[bytes, str] = {}
        of_seed: dict[str, SubsetDraw] = {}
        # the full pool first, so that a random draw of all of it is its alias, not the reverse
        for name in sorted(names, key=lambda n: n != "full"):
            draw = draw_subset(
                name,
                seed,
                scores=scores,
                pretrain=plan.pretrain,
                config=config,
                embeddings=embeddings,
                run_dir=run_dir,
            )
            if not len(draw.indices):
                raise ConfigError(f"subset {name!r} has no sequence in the pretraining pool")
            key = draw.indices.tobytes()
            draw.alias_of = seen.get(key)
            seen.setdefault(key, name)
            of_seed[name] = draw
        draws += [of_seed[name] for name in names]  # run in the order asked for
    aliases = {d.subset: d.alias_of for d in draws if d.alias_of}
    # equal steps: as many as the full pretraining pool needs for `epochs` passes
    total_steps = config.steps or planned_steps(pool.lengths[plan.pretrain], config) * config.epochs

    todo = [d for d in draws if not part_done(directory, d.subset, d.seed)]
    todo.sort(key=lambda d: d.alias_of is not None)  # aliases after what they copy
    initial_rows: dict[int, list[dict]] = {}
    bar = tqdm(
        total=len(draws),
        initial=len(draws) - len(todo),
        desc="evaluate",
        unit="model",
        disable=not progress,
    )
    try:
        for draw in todo:
            bar.set_postfix(subset=draw.subset, seed=draw.seed, n=len(draw.indices))
            result = _run_part(
                draw,
                pool=pool,
                plan=plan,
                config=config,
                directory=directory,
                total_steps=total_steps,
                initial_rows=initial_rows,
                progress=progress,
            )
            _write_parquet(directory / CURVES_NAME, _collect_curves(directory))
            bar.update(1)
            if on_part is not None:
                on_part(result)
    finally:
        bar.close()

    curves = _collect_curves(directory)
    _write_parquet(directory / CURVES_NAME, curves)
    parts = pd.DataFrame(_finished_parts(directory))
    write_json(
        directory / SUMMARY_NAME,
        {
            "run_dir": str(run_dir.resolve()),
            "subsets": names,
            "seeds": seed_list,
            "aliases": aliases,
            "pool": len(pool),
            "pretraining_pool": len(plan.pretrain),
            "heldout": len(plan.heldout),
            "clustering": plan.clustering,
            "leakage": leakage_report(plan.splits),
            "notes": plan.notes,
            "tasks": sorted({t.name for t in plan.tasks}),
            "parts": parts.to_dict("records"),
        },
    )
    return EvaluationResult(directory, curves, parts, plan, aliases, names)


def demo_experiment(
    directory: str | Path,
    *,
    subsets: str | Iterable[str] = DEFAULT_SUBSETS,
    seeds: int | Iterable[int] = 3,
    config: EvaluationConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_part: Callable[[dict[str, Any]], None] | None = None,
) -> EvaluationResult:
    """The demo experiment: CCI and Top-I 10% coresets against random 10%, random 10x and
    the full pool, on the bundled RNA demo run, 3 seeds.

    Uses the precomputed demo run shipped with the package when there is one
    (:func:`biocoreset_viz.demo.demo_run_path`), else scores the demo set with
    the demo model into ``directory/run`` first (resumable). The evaluation goes
    to ``directory/evaluation``, so the shipped run is never written to.

    Args:
        directory: where to write.
        subsets, seeds, config, overwrite, progress, on_part: as :func:`evaluate`
            (default config: :meth:`EvaluationConfig.demo`).
    """
    from biocoreset_viz.demo import build_demo_run, demo_run_path

    directory = Path(directory)
    try:
        run_dir = demo_run_path()
    except RunDirectoryError:
        run_dir = directory / "run"
        build_demo_run(run_dir, progress=progress)
    return evaluate(
        run_dir,
        subsets,
        seeds,
        config or EvaluationConfig.demo(),
        evaluation_dir=directory / EVALUATION_DIR,
        overwrite=overwrite,
        progress=progress,
        on_part=on_part,
    )
