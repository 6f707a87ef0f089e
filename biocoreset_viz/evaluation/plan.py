"""The evaluation plan: leakage-free splits of the pool and the task sets, and the tasks built on them.

:func:`prepare_evaluation` decides, before any model is trained, which pool
sequences may be pretrained on, which are held out (whole clusters), and which
sequences train and test each probe, so that no test sequence has a relative
(joint cluster, :mod:`biocoreset_viz.evaluation.splits`) on any training side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation.config import EvaluationConfig
from biocoreset_viz.evaluation.splits import group_split, identity_clusters, join_labelings
from biocoreset_viz.evaluation.task_data import (
    hemopexin_blades,
    load_structure_table,
    structure_records,
)
from biocoreset_viz.evaluation.tasks import (
    ClassificationTask,
    MaskedLMTask,
    StructureRecord,
    StructureTask,
    Task,
)
from biocoreset_viz.sequences import SequenceSet

UNKNOWN_LABELS = frozenset({"", "unknown", "nan", "none"})
STRUCTURE_COLUMNS = ["id", "sequence", "structure", "split", "origin", "pairs"]


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


def _mlm_task(
    pool: SequenceSet,
    pool_cluster: np.ndarray,
    heldout: np.ndarray,
    pretrain: np.ndarray,
    config: EvaluationConfig,
    rng: np.random.Generator,
    log: _SplitLog,
) -> MaskedLMTask:
    """Masked-LM perplexity on a seeded sample of the held-out clusters, with the unigram
    floor of the pretraining pool's composition."""
    from biocoreset_viz.train import unigram_cross_entropy

    sample = _sample(heldout, config.mlm_sequences, rng)
    ids = np.asarray(pool.ids, dtype=object)[sample]
    log.record("mlm", ids, pool_cluster[sample], ["test"] * len(sample))
    sequences = [pool.sequences[i] for i in sample]
    # the residues training sees: the first max_length of each (crops are random,
    # compositions alike)
    kept = [pool.sequences[i][: config.max_length] for i in pretrain]
    unigram = unigram_cross_entropy(kept, [s[: config.max_length] for s in sequences])
    return MaskedLMTask(
        sequences,
        max_length=config.max_length,
        max_tokens=config.max_tokens,
        seed=config.split_seed,
        unigram_loss=unigram,
    )


@dataclass
class _JointClusters:
    """Joint cluster ids of the pool and of each task set, and how they were made."""

    pool: np.ndarray
    structures: np.ndarray
    blades: np.ndarray
    described: str


def _joint_clusters(
    pool: SequenceSet, structures: pd.DataFrame, blades: pd.DataFrame, config: EvaluationConfig
) -> _JointClusters:
    """Joint clusters over the pool and every task set: identity, plus the pool's own labels."""
    labels = pool.labels if pool.labels is not None else pd.DataFrame(index=range(len(pool)))
    sequences = [*pool.sequences, *structures["sequence"], *blades["sequence"]]
    identity, described = identity_clusters(
        sequences,
        molecule=pool.molecule,
        min_identity=config.min_identity,
        method=config.clustering,
    )
    given: list[object] = [None] * len(sequences)
    if "cluster" in labels:
        # a blank or "unknown" label links nothing (else every unlabelled row is one cluster)
        known = _known(labels["cluster"])
        given[: len(pool)] = [
            f"pool:{c}" if ok else None for c, ok in zip(labels["cluster"], known, strict=True)
        ]
        described += " joined with the pool's own cluster labels"
    joint = join_labelings(len(sequences), [identity, given])
    n_pool, n_structures = len(pool), len(structures)
    return _JointClusters(
        joint[:n_pool],
        joint[n_pool : n_pool + n_structures],
        joint[n_pool + n_structures :],
        described,
    )


def _pretraining_pool(
    pool: SequenceSet,
    pool_cluster: np.ndarray,
    rest: np.ndarray,
    heldout: np.ndarray,
    test_clusters: list[np.ndarray],
    log: _SplitLog,
    notes: list[str],
) -> np.ndarray:
    """The pool sequences left to pretrain on: no relative of any test sequence."""
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
    return pretrain


def prepare_evaluation(pool: SequenceSet, config: EvaluationConfig) -> EvaluationPlan:
    """Build the leakage-free splits and the tasks (see :mod:`biocoreset_viz.evaluation`).

    Args:
        pool: the run's scored sequences, with labels (``cluster``, ``family``,
            ``structure``) when it has them.
        config: the settings.

    Raises:
        ConfigError: a task that the data cannot support, or too little data.
    """
    notes: list[str] = []
    tasks = _decide_tasks(config, pool)
    rng = np.random.default_rng(config.split_seed)
    structures = pd.DataFrame(columns=STRUCTURE_COLUMNS)
    if "structure" in tasks:
        table = load_structure_table(config.structure_source, pool, bprna=config.bprna)
        structures = _sample_structures(structure_records(table, config, notes), config, rng)
    blades = hemopexin_blades() if "blade" in tasks else pd.DataFrame(columns=["id", "sequence"])
    clusters = _joint_clusters(pool, structures, blades, config)

    rest, heldout = group_split(clusters.pool, config.heldout_fraction, seed=config.split_seed)
    log = _SplitLog()
    built: list[Task] = []
    test_clusters = [clusters.pool[heldout]]
    if "structure" in tasks:
        task, tested = _structure_task(structures, clusters.structures, config, rng, log, notes)
        built.append(task)
        test_clusters.append(tested)
    if "blade" in tasks:
        task, tested = _blade_task(blades, clusters.blades, config, rng, log)
        built.append(task)
        test_clusters.append(tested)
    pretrain = _pretraining_pool(pool, clusters.pool, rest, heldout, test_clusters, log, notes)
    if "family" in tasks:
        built.append(_family_task(pool, clusters.pool, pretrain, heldout, config, rng, log))
    if "mlm" in tasks:
        built.insert(0, _mlm_task(pool, clusters.pool, heldout, pretrain, config, rng, log))
    return EvaluationPlan(pretrain, heldout, built, log.table(), clusters.described, notes)
