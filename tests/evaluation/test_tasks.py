"""The downstream tasks: masked-LM perplexity and the structure probe, real and predicted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.evaluation import (
    EvaluationConfig,
    MaskedLMTask,
    StructureTask,
    load_structure_table,
    prepare_evaluation,
)
from biocoreset_viz.models import build_esm2, rna_alphabet
from biocoreset_viz.train import mlm_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_masked_lm_task_reports_loss_and_its_perplexity() -> None:
    sequences = load_demo("rna").sequences[:12]
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    task = MaskedLMTask(sequences, max_length=48, seed=3)
    rows = dict(((t, m), v) for t, m, v in task.evaluate(model, rna_alphabet()))
    assert set(rows) == {("mlm", "loss"), ("mlm", "perplexity")}
    expected = mlm_loss(model, rna_alphabet(), sequences, seed=3, max_length=48)
    assert rows["mlm", "loss"] == pytest.approx(expected)
    assert rows["mlm", "perplexity"] == pytest.approx(math.exp(rows["mlm", "loss"]))


def test_missing_structures_are_folded_and_scored_apart(tmp_path) -> None:
    structures = load_structure_table("squarna").iloc[:120].copy()
    structures.loc[structures.index[::4], "structure"] = ""  # a quarter unknown
    path = tmp_path / "structures.csv"
    structures.drop(columns=["split"]).to_csv(path, index=False)
    pool = load_demo("rna").subset(np.arange(60))
    config = EvaluationConfig(
        tasks=["structure"], structure_source=str(path), predict_missing_structures=True
    )
    task = next(t for t in prepare_evaluation(pool, config).tasks if isinstance(t, StructureTask))
    origins = {r.origin for r in task.train + task.test}
    assert origins == {"reference", "predicted"}
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    rows = task.evaluate(model, rna_alphabet())
    assert {(t, m) for t, m, _ in rows} == {
        (name, metric)
        for name in ("structure", "structure_predicted")
        for metric in ("f1", "top_L_precision", "contact_precision")
    }
    without = EvaluationConfig(tasks=["structure"], structure_source=str(path))
    task = next(t for t in prepare_evaluation(pool, without).tasks if isinstance(t, StructureTask))
    assert {r.origin for r in task.train + task.test} == {"reference"}


def test_the_contact_probe_reads_attention_alone_at_separation_six() -> None:
    """``contact_precision`` is the top-L precision of a logistic regression on every layer's
    and head's APC attention, candidates j - i >= 6, with no embedding features."""
    from biocoreset_viz.evaluation.probes import StructureProbe, embed_sequences, structure_example

    pool = load_demo("rna").subset(np.arange(60))
    config = EvaluationConfig(
        tasks=["structure"], probe_train_sequences=30, probe_test_sequences=20
    )
    task = next(t for t in prepare_evaluation(pool, config).tasks if isinstance(t, StructureTask))
    model = build_esm2(1, 16, 2, rna_alphabet(), seed=0)
    rows = {(t, m): v for t, m, v in task.evaluate(model, rna_alphabet())}

    def examples(records):
        features = embed_sequences(
            model, rna_alphabet(), [r.sequence for r in records], attention=True
        )
        return [
            structure_example(r.pairs, f.residues, f.attention, min_separation=6)
            for r, f in zip(records, features, strict=True)
        ]

    probe = StructureProbe(pca_dim=0, seed=task.seed).fit(examples(task.train))
    expected = probe.evaluate(examples(task.test))["top_L_precision"]
    assert rows["structure", "contact_precision"] == pytest.approx(expected)
