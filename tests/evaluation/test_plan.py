"""The evaluation plan: leakage-free splits of the pool and the task sets, tasks fitting the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import ConfigError
from biocoreset_viz.evaluation import EvaluationConfig, leakage_report, prepare_evaluation
from biocoreset_viz.models import build_esm2
from biocoreset_viz.sequences import SequenceSet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_demo_splits_have_no_leakage() -> None:
    pool = load_demo("rna")
    plan = prepare_evaluation(pool, EvaluationConfig())
    assert leakage_report(plan.splits) == {"family": 0, "mlm": 0, "structure": 0}
    splits = plan.splits
    pool_rows = splits[splits["dataset"] == "pool"]
    pretrain = set(pool_rows.loc[pool_rows["role"] == "pretrain", "cluster"])
    heldout = set(pool_rows.loc[pool_rows["role"] == "heldout", "cluster"])
    assert not pretrain & heldout
    # rnaglib's own 80%-identity clusters never straddle pretraining and held-out sides
    roles = pool_rows.set_index("id")["role"]
    given = pd.Series(pool.labels["cluster"].to_numpy(), index=pool.ids)
    sides = roles.groupby(given).agg(lambda r: set(r) - {"excluded"})
    assert all(len(side) <= 1 for side in sides)
    assert len(plan.pretrain) + len(plan.heldout) + (roles == "excluded").sum() == len(pool)


@st.composite
def labelled_pools(draw):
    """Small RNA pools with families, cluster labels and exact duplicates."""
    seed = draw(st.integers(0, 10_000))
    n = draw(st.integers(30, 70))
    rng = np.random.default_rng(seed)
    bases = ["".join(rng.choice(list("ACGU"), int(rng.integers(30, 60)))) for _ in range(n)]
    copies = rng.integers(0, n, n // 5)  # exact duplicates of random members
    sequences = bases + [bases[i] for i in copies]
    family = [f"F{i % 4}" for i in range(n)] + [f"F{i % 4}" for i in copies]
    cluster = [f"c{int(rng.integers(0, n // 2))}" for _ in sequences]
    labels = pd.DataFrame({"family": family, "cluster": cluster})
    ids = [f"s{i}" for i in range(len(sequences))]
    return SequenceSet(ids, sequences, "rna", labels), draw(st.floats(0.1, 0.4))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled_pools())
def test_cluster_splits_never_leak(case) -> None:
    pool, fraction = case
    config = EvaluationConfig(
        tasks=["mlm", "family"], clustering="kmer", heldout_fraction=fraction, per_class=50
    )
    try:
        plan = prepare_evaluation(pool, config)
    except ConfigError:
        assume(False)  # too little data left for a family probe: not a leak
    assert leakage_report(plan.splits) == {"family": 0, "mlm": 0}
    pretrain, heldout = set(plan.pretrain), set(plan.heldout)
    assert not pretrain & heldout
    for key in (pool.labels["cluster"], pd.Series(pool.sequences)):
        side = {}
        for index, value in enumerate(key):
            if index in pretrain or index in heldout:
                side.setdefault(value, set()).add(index in pretrain)
        assert all(len(s) == 1 for s in side.values())


def test_tasks_must_fit_the_molecule(tmp_path) -> None:
    proteins = load_demo("proteome").subset(np.arange(40))
    with pytest.raises(ConfigError, match="task 'structure' needs an RNA pool"):
        prepare_evaluation(proteins, EvaluationConfig(tasks=["structure"]))
    rna = SequenceSet(["a", "b"], ["ACGUACGU", "GGGCCCAA"], "rna")
    with pytest.raises(ConfigError, match="task 'family' needs a 'family' label column"):
        prepare_evaluation(rna, EvaluationConfig(tasks=["family"]))
    with pytest.raises(ConfigError, match="task 'blade' needs a protein pool"):
        prepare_evaluation(rna, EvaluationConfig(tasks=["blade"]))


def test_protein_pool_gets_the_blade_task_without_leakage() -> None:
    from biocoreset_viz.models import protein_alphabet

    proteins = load_demo("proteome").subset(np.arange(150))
    config = EvaluationConfig(probe_train_sequences=120, probe_test_sequences=80)
    plan = prepare_evaluation(proteins, config)
    assert {t.name for t in plan.tasks} == {"mlm", "blade"}
    assert leakage_report(plan.splits) == {"blade": 0, "mlm": 0}
    blade = next(t for t in plan.tasks if t.name == "blade")
    assert set(blade.train_labels) == set(blade.test_labels) == {f"blade{k}" for k in range(1, 5)}
    model = build_esm2(1, 16, 2, protein_alphabet(), seed=0)
    rows = dict(((t, m), v) for t, m, v in blade.evaluate(model, protein_alphabet()))
    assert set(rows) == {("blade", "accuracy"), ("blade", "macro_f1")}
    assert all(0 <= v <= 1 for v in rows.values())


def test_the_mlm_task_carries_the_unigram_floor_of_the_pretraining_pool() -> None:
    from biocoreset_viz.evaluation import MaskedLMTask
    from biocoreset_viz.train import unigram_cross_entropy

    pool = load_demo("rna").subset(np.arange(0, 4000, 20))
    config = EvaluationConfig(tasks=["mlm"], clustering="kmer", max_length=64)
    plan = prepare_evaluation(pool, config)
    task = next(t for t in plan.tasks if isinstance(t, MaskedLMTask))
    kept = [pool.sequences[i][:64] for i in plan.pretrain]
    expected = unigram_cross_entropy(kept, [s[:64] for s in task.sequences])
    assert task.unigram_loss == pytest.approx(expected)


def test_blank_cluster_labels_link_nothing() -> None:
    """A CSV pool with empty ``cluster`` cells for some rows (sequences from another
    source): those rows are not all one cluster, so the held-out side stays a tenth."""
    rng = np.random.default_rng(0)
    sequences = ["".join(rng.choice(list("ACGU"), int(rng.integers(30, 60)))) for _ in range(200)]
    cluster = [f"c{i // 2}" for i in range(100)] + [""] * 100
    labels = pd.DataFrame({"cluster": cluster})
    pool = SequenceSet([f"s{i}" for i in range(200)], sequences, "rna", labels)
    config = EvaluationConfig(tasks=["mlm"], clustering="kmer", heldout_fraction=0.1)
    plan = prepare_evaluation(pool, config)
    rows = plan.splits[plan.splits["dataset"] == "pool"].set_index("id")["cluster"]
    assert rows.loc[[f"s{i}" for i in range(100, 200)]].nunique() > 90
    assert 15 <= len(plan.heldout) <= 30
    assert len(plan.pretrain) >= 170
