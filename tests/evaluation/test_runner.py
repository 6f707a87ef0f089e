"""Running an evaluation end to end at a reduced size: the curves contract, shared initial
weights, equal budgets (epochs, steps, tokens), aliases, the summary with its paired
comparisons, refusals and resuming per (subset, seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.evaluation_runs import TINY, write_run

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.evaluation import (
    COMPARISON_COLUMNS,
    CURVE_COLUMNS,
    EvaluationConfig,
    evaluate,
    final_metrics,
    load_curves,
    results_table,
    summarize_curves,
)
from biocoreset_viz.influence import model_fingerprint
from biocoreset_viz.models import build_esm2, load_model, rna_alphabet
from biocoreset_viz.runs import read_json
from biocoreset_viz.train import mlm_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    """The reduced demo pipeline, run once: all five subsets, one seed."""
    run_dir = write_run(tmp_path_factory.mktemp("evaluation"))
    result = evaluate(run_dir, seeds=[0], config=EvaluationConfig(**TINY), progress=False)
    return run_dir, result


def test_reduced_demo_writes_the_curves_contract(demo_like) -> None:
    run_dir, result = demo_like
    on_disk = load_curves(run_dir)
    for curves in (result.curves, on_disk):
        assert list(curves.columns) == [*CURVE_COLUMNS, "budget"]
        assert set(curves["budget"]) == {"epochs"}
        assert pd.api.types.is_string_dtype(curves["subset"])
        assert pd.api.types.is_string_dtype(curves["task"])
        assert pd.api.types.is_string_dtype(curves["metric"])
        for column in ("seed", "step", "tokens_seen"):
            assert curves[column].dtype == np.int64
        assert curves["value"].dtype == np.float64
    pd.testing.assert_frame_equal(on_disk, result.curves)
    assert set(result.curves["subset"]) == {"cci", "topi", "random", "random10x", "full"}
    assert set(zip(result.curves["task"], result.curves["metric"], strict=True)) == {
        ("mlm", "loss"),
        ("mlm", "perplexity"),
        ("structure", "f1"),
        ("structure", "top_L_precision"),
        ("structure", "contact_precision"),
        ("family", "accuracy"),
        ("family", "macro_f1"),
    }
    assert np.isfinite(result.curves["value"]).all()


def test_reduced_demo_trains_each_subset_and_starts_from_shared_weights(demo_like) -> None:
    run_dir, result = demo_like
    curves = result.curves
    start = curves[curves["step"] == 0].set_index(["subset", "task", "metric"])["value"]
    assert start.groupby(["task", "metric"]).nunique().eq(1).all()
    parts = result.parts.set_index("subset")
    n_pool = len(result.plan.pretrain)
    coreset = round(0.1 * n_pool)
    assert parts.loc[["cci", "topi", "random"], "n_sequences"].tolist() == [coreset] * 3
    assert parts.loc["full", "n_sequences"] == n_pool
    # ten times the coreset reaches the pool: random10x is the full pool, trained once
    assert result.aliases == {"random10x": "full"}
    assert parts.loc["random10x", "alias_of"] == "full"
    # equal epochs: every subset made 2 passes; the full pool took the most steps
    assert (parts.loc[parts["alias_of"].isna(), "epochs"] == 2).all()
    assert parts.loc["full", "steps"] > parts.loc["random", "steps"]
    mlm = curves[(curves["task"] == "mlm") & (curves["metric"] == "loss")]
    for _, rows in mlm.groupby("subset"):
        assert rows.sort_values("step")["value"].iloc[-1] < rows["value"].iloc[0]  # learned


def test_the_last_checkpoint_reproduces_the_recorded_loss(demo_like) -> None:
    run_dir, result = demo_like
    folder = result.directory / "parts" / "full" / "seed-0"
    checkpoints = sorted((folder / "checkpoints").glob("step-*.pt"))
    assert len(checkpoints) == 1  # keep_checkpoints="last"
    model, alphabet = load_model(checkpoints[0])
    task = result.plan.tasks[0]
    loss = mlm_loss(model, alphabet, task.sequences, seed=task.seed, max_length=task.max_length)
    final = result.curves.query("subset == 'full' and task == 'mlm' and metric == 'loss'")
    assert loss == pytest.approx(final.sort_values("step")["value"].iloc[-1], abs=5e-3)


def test_summaries_are_plot_and_table_ready(demo_like) -> None:
    _, result = demo_like
    summary = summarize_curves(result.curves)
    assert {"subset", "task", "metric", "checkpoint", "step", "tokens_seen", "mean", "sd"} <= set(
        summary.columns
    )
    assert (summary["n_seeds"] == 1).all() and (summary["sd"] == 0).all()
    assert summary.groupby("subset")["checkpoint"].max().ge(2).all()
    final = final_metrics(result.curves)
    assert len(final) == 5 * 7
    table = results_table(result.curves, subsets=["cci", "topi", "random", "random10x", "full"])
    assert list(table.index) == ["untrained", "cci", "topi", "random", "random10x", "full"]
    assert table.loc["untrained", "steps"] == 0
    # one seed: the value, never "± 0.000"
    assert table.loc["cci", "mlm perplexity ↓"].endswith("(n = 1)")
    summary_file = read_json(result.directory / "summary.json")
    assert summary_file["leakage"] == {"family": 0, "mlm": 0, "structure": 0}
    assert summary_file["aliases"] == {"random10x": "full"}
    assert summary_file["budget"] == {"kind": "epochs", "epochs": 2}
    floor = summary_file["floors"]["mlm"]
    assert 3.5 < floor["unigram_perplexity"] < 4.5  # about 4 letters in equal shares


def test_the_summary_holds_the_paired_comparisons(demo_like) -> None:
    _, result = demo_like
    summary_file = read_json(result.directory / "summary.json")
    comparisons = summary_file["comparisons"]
    # cci, topi against random and full; random against full; random10x (= full) left out
    pairs = {(c["subset"], c["baseline"]) for c in comparisons}
    assert pairs == {
        ("cci", "random"), ("cci", "full"), ("topi", "random"), ("topi", "full"),
        ("random", "full"),
    }  # fmt: skip
    assert {(c["task"], c["metric"]) for c in comparisons} == {
        ("mlm", "perplexity"), ("structure", "contact_precision"), ("family", "accuracy")
    }  # fmt: skip
    for comparison in comparisons:
        assert set(COMPARISON_COLUMNS) <= set(comparison)
        assert comparison["n_seeds"] == 1 and comparison["verdict"] == "n = 1, no spread"
        assert comparison["ci95_low"] is None and comparison["ci95_high"] is None
    assert len(summary_file["area_comparisons"]) == len(comparisons)
    metrics = {(m["subset"], m["task"], m["metric"]) for m in summary_file["curve_metrics"]}
    assert ("cci", "mlm", "perplexity") in metrics
    in_memory = result.comparisons()
    assert in_memory["mean_difference"].tolist() == [c["mean_difference"] for c in comparisons]


def test_the_parts_of_a_seed_start_from_the_same_weights(demo_like) -> None:
    _, result = demo_like
    parts = result.parts.set_index("subset")
    assert parts["initial_weights"].nunique() == 1  # one seed: every subset alike
    config = EvaluationConfig(**TINY)
    fresh = build_esm2(config.layers, config.embed_dim, config.heads, rna_alphabet(), seed=0)
    assert parts.loc["cci", "initial_weights"] == model_fingerprint(fresh)
    other = build_esm2(config.layers, config.embed_dim, config.heads, rna_alphabet(), seed=1)
    assert model_fingerprint(other) != model_fingerprint(fresh)


def test_other_settings_are_refused_in_the_same_directory(demo_like) -> None:
    run_dir, _ = demo_like
    with pytest.raises(RunDirectoryError, match="holds an evaluation with other settings"):
        evaluate(run_dir, "random", [0], EvaluationConfig(**{**TINY, "epochs": 3}), progress=False)


def test_an_interrupted_evaluation_resumes_per_subset_and_seed(demo_like, tmp_path, monkeypatch):
    """Kill the second (subset, seed) mid-training, resume: the first is not redone, the
    second restarts cleanly, and the curves equal those of an uninterrupted run."""
    import biocoreset_viz.evaluation.runner as runner
    import biocoreset_viz.train as train

    run_dir, reference = demo_like
    config = EvaluationConfig(**TINY)
    out = tmp_path / "evaluation"
    original = runner._evaluate_tasks

    def crash_in_full(tasks, model, alphabet, step, tokens, draw):
        if draw.subset == "full" and step > 0:
            raise KeyboardInterrupt  # as if the process were stopped here
        return original(tasks, model, alphabet, step, tokens, draw)

    monkeypatch.setattr(runner, "_evaluate_tasks", crash_in_full)
    with pytest.raises(KeyboardInterrupt):
        evaluate(run_dir, "random,full", [0], config, evaluation_dir=out, progress=False)
    assert (out / "parts" / "random" / "seed-0" / "result.json").is_file()
    assert (out / "parts" / "full" / "seed-0").is_dir()
    assert not (out / "parts" / "full" / "seed-0" / "result.json").exists()
    assert set(pd.read_parquet(out / "curves.parquet")["subset"]) == {"random"}
    finished = (out / "parts" / "random" / "seed-0" / "result.json").stat().st_mtime_ns

    monkeypatch.setattr(runner, "_evaluate_tasks", original)
    trained = []
    real_train = train.train_mlm
    monkeypatch.setattr(
        train, "train_mlm", lambda *a, **k: trained.append(len(a[2])) or real_train(*a, **k)
    )
    resumed = evaluate(run_dir, "random,full", [0], config, evaluation_dir=out, progress=False)
    assert trained == [len(resumed.plan.pretrain)]  # only the full pool was trained again
    assert (out / "parts" / "random" / "seed-0" / "result.json").stat().st_mtime_ns == finished
    expected = reference.curves[reference.curves["subset"].isin(["random", "full"])]
    pd.testing.assert_frame_equal(
        resumed.curves.reset_index(drop=True), expected.reset_index(drop=True)
    )


def test_equal_tokens_give_every_subset_the_same_tokens_within_one_batch(tmp_path) -> None:
    """Under budget 'tokens' each subset trains until it has seen the full pool's tokens of
    `epochs` passes: a 10% coreset makes about ten times the passes. Two seeds: the parts of
    a seed share their initial weights, the seeds differ."""
    run_dir = write_run(tmp_path, n=120)
    config = EvaluationConfig(**{**TINY, "tasks": ["mlm"], "budget": "tokens", "max_tokens": 512})
    result = evaluate(
        run_dir, "cci,topi,cci-length_adjusted,random,full", [0, 1], config, progress=False
    )
    parts = result.parts
    target = int(parts["target_tokens"].iloc[0])
    assert (parts["target_tokens"] == target).all()
    assert target == result.budget["tokens"]
    full = parts[parts["subset"] == "full"]
    assert (full["tokens_seen"] == target).all() and (full["epochs"] == 2).all()
    # every subset reaches the budget and stops within one batch of it
    assert (parts["tokens_seen"] >= target).all()
    assert (parts["tokens_seen"] < target + config.max_tokens).all()
    coresets = parts[parts["subset"] != "full"]
    assert (coresets["epochs"] > 5).all()  # a tenth of the pool, passed over about 20 times
    assert set(result.curves["budget"]) == {"tokens"}
    last = result.curves.groupby(["subset", "seed"])["tokens_seen"].max()
    assert (last >= target).all()
    by_seed = parts.groupby("seed")["initial_weights"].nunique()
    assert (by_seed == 1).all() and parts["initial_weights"].nunique() == 2
    summary_file = read_json(result.directory / "summary.json")
    assert {c["verdict"] for c in summary_file["comparisons"]} <= {
        "better", "worse", "no detectable difference"
    }  # fmt: skip
    assert {c["n_seeds"] for c in summary_file["comparisons"]} == {2}


def test_equal_steps_gives_every_subset_the_same_updates(tmp_path) -> None:
    run_dir = write_run(tmp_path, n=120)
    config = EvaluationConfig(**{**TINY, "tasks": ["mlm"], "budget": "steps", "steps": 7})
    result = evaluate(run_dir, "topi,full", [0], config, progress=False)
    assert result.parts.set_index("subset")["steps"].to_dict() == {"topi": 7, "full": 7}
    steps = result.curves.groupby("subset")["step"].apply(lambda s: sorted(set(s)))
    assert all(found == [0, 4, 7] for found in steps)  # checkpoints every ceil(7 / 2) steps
