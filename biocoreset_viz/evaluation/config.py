"""The evaluation's settings (:class:`EvaluationConfig`) and the parsing of subset names and seeds."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.probes import DEFAULT_MIN_SEPARATION
from biocoreset_viz.settings import DocumentedSettings, check_device, help_metadata

DEFAULT_SUBSETS = ("cci", "topi", "random", "random10x", "full")
RANDOM_MULTIPLE = re.compile(r"random(\d+)x")
TASKS = ("mlm", "structure", "family", "blade")
BUDGETS = ("epochs", "steps", "tokens")
STRUCTURE_SOURCES = ("squarna", "bprna", "pool")
# fields that say where things are or what is kept, not what the curves are
NOT_IN_RESULT_KEY = ("device", "keep_checkpoints", "bprna")


def is_integer(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy integer (``bool`` is not)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass
class EvaluationConfig(DocumentedSettings):
    """How subsets are pretrained and probed; validated on creation.

    Every field's ``help`` metadata documents it (``EvaluationConfig.help()``).
    ``EvaluationConfig.demo()`` is the preset of the demo experiment.
    """

    pruning_rate: float = field(
        default=0.9,
        metadata=help_metadata(
            "fraction alpha of the pretraining pool removed: coreset = (1-alpha) N"
        ),
    )
    hard_cutoff: float = field(
        default=0.1,
        metadata=help_metadata("CCI: fraction beta of the most influential dropped first"),
    )
    n_strata: int = field(default=50, metadata=help_metadata("CCI: number of score strata k"))
    budget: Literal["epochs", "steps", "tokens"] = field(
        default="epochs",
        metadata=help_metadata(
            "'epochs': every subset trained for `epochs` passes (the paper); 'steps': "
            "every subset trained for `steps` optimiser steps; 'tokens': every subset "
            "trained on `tokens` training tokens (to within one batch)"
        ),
    )
    epochs: int = field(
        default=10, metadata=help_metadata("passes over each subset (budget='epochs')")
    )
    steps: int | None = field(
        default=None,
        metadata=help_metadata(
            "optimiser steps per subset (budget='steps'); None = what the full pool "
            "needs for `epochs` passes"
        ),
    )
    checkpoints: int = field(
        default=4,
        metadata=help_metadata(
            "evaluations during training, evenly spaced (plus one before training)"
        ),
    )
    layers: int = field(default=2, metadata=help_metadata("transformer layers of the fresh ESM-2"))
    embed_dim: int = field(default=64, metadata=help_metadata("model width"))
    heads: int = field(default=4, metadata=help_metadata("attention heads (divides embed_dim)"))
    max_length: int = field(
        default=128,
        metadata=help_metadata("residues per training sequence (a random window of longer ones)"),
    )
    max_tokens: int = field(default=4096, metadata=help_metadata("token budget per training batch"))
    learning_rate: float = field(default=2e-3, metadata=help_metadata("peak AdamW learning rate"))
    tasks: str | list[str] = field(
        default="auto",
        metadata=help_metadata(
            "'auto' (every task the data allows) or a list of mlm, structure, family, blade"
        ),
    )
    structure_source: str = field(
        default="squarna",
        metadata=help_metadata(
            "base-pair labels: 'squarna' (485 PDB-derived structures, bundled), 'bprna' "
            "(the bpRNA-derived set at `bprna`), 'pool' (the run's own structure column) "
            "or a CSV path with sequence and structure columns"
        ),
    )
    predict_missing_structures: bool = field(
        default=False,
        metadata=help_metadata(
            "fold missing structures with ViennaRNA (MFE); scored separately as task "
            "'structure_predicted', never mixed with real ones in 'structure'"
        ),
    )
    structure_max_length: int = field(
        default=150,
        metadata=help_metadata("longest RNA used by the structure probe (pairs grow as L^2)"),
    )
    min_separation: int = field(
        default=DEFAULT_MIN_SEPARATION,
        metadata=help_metadata(
            "smallest j - i of a candidate base pair (4: hairpin loops >= 3 nt)"
        ),
    )
    heldout_fraction: float = field(
        default=0.1,
        metadata=help_metadata(
            "share of the pool held out, by whole clusters, for MLM and family tests"
        ),
    )
    mlm_sequences: int = field(
        default=400, metadata=help_metadata("held-out sequences scored for masked-LM perplexity")
    )
    probe_train_sequences: int = field(
        default=400, metadata=help_metadata("most training sequences of a probe")
    )
    probe_test_sequences: int = field(
        default=300, metadata=help_metadata("most test sequences of a probe")
    )
    per_class: int = field(
        default=30,
        metadata=help_metadata("most sequences per class on each side of a classification probe"),
    )
    clustering: Literal["auto", "mmseqs", "kmer"] = field(
        default="auto",
        metadata=help_metadata(
            "identity clustering for the splits: MMseqs2 ('auto' when installed) or the "
            "k-mer estimate"
        ),
    )
    min_identity: float = field(
        default=0.8, metadata=help_metadata("identity threshold of the clusters kept on one side")
    )
    split_seed: int = field(
        default=0,
        metadata=help_metadata("seed of the held-out and probe splits (shared by all seeds)"),
    )
    device: str = field(
        default="auto",
        metadata=help_metadata("'auto' (CUDA when available), 'cpu', 'cuda', 'cuda:N'"),
    )
    keep_checkpoints: Literal["all", "last", "none"] = field(
        default="all",
        metadata=help_metadata("model checkpoints kept: every evaluated step, the last, none"),
    )
    # last, so that positional arguments keep their places
    bprna: str | None = field(
        default=None,
        metadata=help_metadata(
            "path of the bpRNA-derived set (bprna.csv.gz) that structure_source='bprna' "
            "reads; None = $BIOCORESET_BPRNA"
        ),
    )
    tokens: int | None = field(
        default=None,
        metadata=help_metadata(
            "training tokens per subset (budget='tokens'); None = what the full pool "
            "sees in `epochs` passes"
        ),
    )

    def __post_init__(self) -> None:
        self._check_sizes()
        self._check_training()
        self._check_tasks()
        self._check_splits_and_device()

    def _check_sizes(self) -> None:
        def fraction(name: str, low_open: bool = False) -> None:
            value = getattr(self, name)
            valid = isinstance(value, int | float) and not isinstance(value, bool)
            valid = valid and (0 < value < 1 if low_open else 0 <= value < 1)
            if not valid:
                interval = "(0, 1)" if low_open else "[0, 1)"
                raise ConfigError(f"{name} must be in {interval}, got {value!r}")

        def positive(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if not is_integer(value) or value < minimum:
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

    def _check_training(self) -> None:
        if self.budget not in BUDGETS:
            raise ConfigError(f"budget must be 'epochs', 'steps' or 'tokens', got {self.budget!r}")
        for name in ("steps", "tokens"):
            value = getattr(self, name)
            if value is not None and (not is_integer(value) or value < 1):
                raise ConfigError(f"{name} must be None or an integer >= 1, got {value!r}")
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

    def _check_tasks(self) -> None:
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
        if self.bprna is not None:
            if not isinstance(self.bprna, str | os.PathLike) or not str(self.bprna):
                raise ConfigError(f"bprna must be a file path or None, got {self.bprna!r}")
            self.bprna = str(self.bprna)
            if self.structure_source != "bprna":
                raise ConfigError(
                    "bprna (the path of bprna.csv.gz) is read only with structure_source "
                    f"'bprna', not {self.structure_source!r}"
                )

    def _check_splits_and_device(self) -> None:
        if self.clustering not in ("auto", "mmseqs", "kmer"):
            raise ConfigError(
                f"clustering must be 'auto', 'mmseqs' or 'kmer', got {self.clustering!r}"
            )
        if not (isinstance(self.min_identity, int | float) and 0 < self.min_identity <= 1):
            raise ConfigError(f"min_identity must be in (0, 1], got {self.min_identity!r}")
        if not is_integer(self.split_seed):
            raise ConfigError(f"split_seed must be an integer, got {self.split_seed!r}")
        check_device(self.device)
        if self.keep_checkpoints not in ("all", "last", "none"):
            raise ConfigError(
                f"keep_checkpoints must be 'all', 'last' or 'none', got {self.keep_checkpoints!r}"
            )

    @classmethod
    def demo(cls, **changes: Any) -> EvaluationConfig:
        """The demo experiment's settings, sized for 2 CPU cores: 4 epochs (the paper
        trains 10), 1,024-token batches (more updates for the same tokens, which small
        models on few data need) and 300 held-out sequences for perplexity. Five
        subsets x 3 seeds took 5 minutes on a quiet 2-core machine (9 when it
        was shared with other work)."""
        return cls(**{"epochs": 4, "max_tokens": 1024, "mlm_sequences": 300, **changes})

    def result_key(self) -> dict[str, Any]:
        """The fields that change the curves (not where things are or what is kept on disk)."""
        values = self.to_dict()
        for irrelevant in NOT_IN_RESULT_KEY:
            values.pop(irrelevant)
        return values


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
    if is_integer(seeds):
        if seeds < 1:
            raise ConfigError(f"seeds must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    values = list(seeds)  # type: ignore[arg-type]
    if not values or not all(is_integer(s) for s in values):
        raise ConfigError(f"seeds must be a count >= 1 or a list of integers, got {seeds!r}")
    return list(dict.fromkeys(int(s) for s in values))
