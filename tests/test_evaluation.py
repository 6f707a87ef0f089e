"""Downstream evaluation: splits without leakage, subsets, curves contract, resumability,
and the demo pipeline end to end at a reduced size."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.evaluation import (
    CURVE_COLUMNS,
    EvaluationConfig,
    StructureTask,
    draw_subset,
    evaluate,
    final_metrics,
    fold_structures,
    hemopexin_blades,
    leakage_report,
    load_curves,
    load_structure_table,
    parse_seeds,
    parse_subsets,
    prepare_evaluation,
    results_table,
    summarize_curves,
)
from biocoreset_viz.models import build_esm2, load_model, rna_alphabet
from biocoreset_viz.probes import parse_dot_bracket
from biocoreset_viz.runs import ScoreTable, read_json
from biocoreset_viz.sequences import SequenceSet
from biocoreset_viz.train import mlm_loss

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# a model and probes small enough for CI: the pipeline is real, only the sizes shrink
TINY = {
    "layers": 1,
    "embed_dim": 16,
    "heads": 2,
    "epochs": 2,
    "checkpoints": 2,
    "max_length": 64,
    "max_tokens": 2048,
    "learning_rate": 5e-3,
    "mlm_sequences": 30,
    "probe_train_sequences": 40,
    "probe_test_sequences": 30,
    "per_class": 5,
    "heldout_fraction": 0.15,
    "keep_checkpoints": "last",
}


def write_run(folder: Path, n: int = 180, seed: int = 0, molecule: str = "rna") -> Path:
    """A run directory over ``n`` short demo sequences (labels kept) with random scores."""
    data = load_demo("rna" if molecule == "rna" else "proteome")
    limit = 100 if molecule == "rna" else 200
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(np.flatnonzero(data.lengths <= limit), n, replace=False))
    pool = data.subset(chosen)
    table = pool.to_frame().drop(columns=["length"])
    if "structure" in table:
        table["structure"] = table["structure"].fillna("")
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "pool.csv"
    table.to_csv(csv, index=False)
    frame = pd.DataFrame(
        {
            "index": np.arange(n, dtype=np.int64),
            "id": pool.ids,
            "length": pool.lengths,
            "truncated": np.zeros(n, dtype=bool),
            "loss": rng.random(n),
            "self_influence": rng.lognormal(size=n),
        }
    )
    manifest = {"molecule": molecule, "input": {"path": str(csv)}, "identity": {"input": "test"}}
    run_dir = folder / "run"
    ScoreTable(frame, None, manifest).save(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory):
    """The reduced demo pipeline, run once: all five subsets, one seed."""
    run_dir = write_run(tmp_path_factory.mktemp("evaluation"))
    result = evaluate(run_dir, seeds=[0], config=EvaluationConfig(**TINY), progress=False)
    return run_dir, result


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pruning_rate": 1.0}, r"pruning_rate must be in \[0, 1\), got 1.0"),
        ({"hard_cutoff": -0.1}, r"hard_cutoff must be in \[0, 1\)"),
        ({"heldout_fraction": 0.0}, r"heldout_fraction must be in \(0, 1\)"),
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"checkpoints": 1.5}, "checkpoints must be an integer >= 1"),
        ({"budget": "tokens"}, "budget must be 'epochs' or 'steps', got 'tokens'"),
        ({"steps": 0}, "steps must be None or an integer >= 1, got 0"),
        ({"embed_dim": 30, "heads": 4}, r"embed_dim \(30\) must be a multiple of heads \(4\)"),
        ({"learning_rate": float("nan")}, "learning_rate must be > 0"),
        ({"tasks": "mlm,contacts"}, "tasks must be 'auto' or a list of mlm, structure"),
        ({"tasks": []}, "tasks must be 'auto' or a list"),
        ({"structure_source": ""}, "structure_source must be squarna, bprna, pool"),
        ({"clustering": "blast"}, "clustering must be 'auto', 'mmseqs' or 'kmer'"),
        ({"min_identity": 0}, r"min_identity must be in \(0, 1\]"),
        ({"device": "gpu"}, "device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        ({"keep_checkpoints": "some"}, "keep_checkpoints must be 'all', 'last' or 'none'"),
        ({"probe_train_sequences": 1}, "probe_train_sequences must be an integer >= 2"),
    ],
)
def test_bad_settings_are_refused_with_a_message(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        EvaluationConfig(**changes)


def test_every_setting_is_documented() -> None:
    text = EvaluationConfig.help()
    for name in EvaluationConfig.__dataclass_fields__:
        assert f"{name} (default" in text
    assert EvaluationConfig(tasks="mlm, family").tasks == ["mlm", "family"]
    assert EvaluationConfig.from_dict(EvaluationConfig(epochs=3).to_dict()).epochs == 3
    assert "device" not in EvaluationConfig().result_key()


def test_subset_and_seed_names() -> None:
    assert parse_subsets("cci, topi,cci,random10x") == ["cci", "topi", "random10x"]
    assert parse_seeds(3) == [0, 1, 2]
    assert parse_seeds([4, 4, 1]) == [4, 1]
    with pytest.raises(ConfigError, match="no subsets to evaluate"):
        parse_subsets(" , ")
    with pytest.raises(ConfigError, match="subset name '../x' must be letters"):
        parse_subsets(["../x"])
    with pytest.raises(ConfigError, match="the multiple must be >= 1"):
        parse_subsets("random0x")
    with pytest.raises(ConfigError, match="seeds must be >= 1, got 0"):
        parse_seeds(0)
    with pytest.raises(ConfigError, match="seeds must be a count >= 1 or a list of integers"):
        parse_seeds(["a"])


# ------------------------------------------------------------------ subsets


def test_subsets_have_the_promised_sizes_and_seeds_matter() -> None:
    rng = np.random.default_rng(0)
    scores = rng.lognormal(size=500)
    pretrain = np.sort(rng.choice(500, 400, replace=False))
    config = EvaluationConfig(pruning_rate=0.9, n_strata=10)

    def draw(name: str, seed: int = 0):
        return draw_subset(name, seed, scores=scores, pretrain=pretrain, config=config)

    assert np.array_equal(draw("full").indices, pretrain)
    for name in ("cci", "topi", "random"):
        subset = draw(name)
        assert len(subset.indices) == 40
        assert np.isin(subset.indices, pretrain).all()
    top = draw("topi").indices
    assert scores[top].min() >= np.sort(scores[pretrain])[-40]
    assert np.array_equal(top, draw("topi", seed=5).indices)
    assert not np.array_equal(draw("cci").indices, draw("cci", seed=1).indices)
    assert not np.array_equal(draw("random").indices, draw("random", seed=1).indices)
    assert len(draw("random5x").indices) == 200
    assert np.array_equal(draw("random10x").indices, pretrain)  # capped at the pool
    with pytest.raises(ConfigError, match="unknown subset 'best'"):
        draw("best")


def test_a_saved_selection_is_restricted_to_the_pretraining_pool(tmp_path) -> None:
    from biocoreset_viz.selection import select_from_run

    run_dir = write_run(tmp_path, n=60)
    select_from_run(run_dir, "topi", name="mine", n_select=20)
    scores = ScoreTable.load(run_dir).scores
    pretrain = np.arange(0, 60, 2)
    subset = draw_subset(
        "mine", 0, scores=scores, pretrain=pretrain, config=EvaluationConfig(), run_dir=run_dir
    )
    assert np.isin(subset.indices, pretrain).all()
    assert len(subset.indices) + subset.params["dropped"] == 20


# ------------------------------------------------------------------ splits


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


def test_structure_sources_are_read_and_checked(tmp_path) -> None:
    squarna = load_structure_table("squarna")
    assert len(squarna) == 485 and set(squarna["split"]) == {"train", "test"}
    with pytest.raises(ConfigError, match="structure_source must be squarna, bprna, pool"):
        load_structure_table(str(tmp_path / "absent.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sequence\na,ACGU\n")
    with pytest.raises(Exception, match=r"lacks columns \['structure'\]"):
        load_structure_table(str(bad))


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
    assert {t for t, _, _ in rows} == {"structure", "structure_predicted"}
    without = EvaluationConfig(tasks=["structure"], structure_source=str(path))
    task = next(t for t in prepare_evaluation(pool, without).tasks if isinstance(t, StructureTask))
    assert {r.origin for r in task.train + task.test} == {"reference"}


def test_vienna_folds_a_hairpin() -> None:
    (structure,) = fold_structures(["GGGGAAAACCCC"])
    assert len(structure) == 12
    assert len(parse_dot_bracket(structure)) >= 3


def test_hemopexin_blades_are_four_per_protein_in_order() -> None:
    blades = hemopexin_blades()
    assert (blades.groupby("protein").size() == 4).all()
    per_protein = blades.groupby("protein")["label"].apply(sorted)
    assert all(labels == ["blade1", "blade2", "blade3", "blade4"] for labels in per_protein)
    starts = blades["id"].str.extract(r"/(\d+)-")[0].astype(int)
    first = blades.assign(start=starts).sort_values("start").groupby("protein")["label"].first()
    assert (first == "blade1").all()


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


@pytest.mark.skipif(
    not SHARED_DATA.is_dir() and os.environ.get("BIOCORESET_REQUIRE_SHARED") != "1",
    reason="../shared/data (bpRNA-derived structures) is not beside this checkout",
)
def test_every_bprna_structure_parses(monkeypatch) -> None:
    monkeypatch.setenv("BIOCORESET_BPRNA", str(SHARED_DATA / "bprna.csv.gz"))
    table = load_structure_table("bprna")
    assert len(table) == 24_651
    assert set(table["split"]) == {"train", "test"}
    pseudoknotted = 0
    for sequence, structure in zip(table["sequence"], table["structure"], strict=True):
        pairs = parse_dot_bracket(structure)
        assert len(structure) == len(sequence)
        assert not pairs.size or pairs.max() < len(sequence)
        pseudoknotted += any(c in structure for c in "[]{}<>")
    assert pseudoknotted == 5_580  # as data/README.md counts
    # as a probe source: bpRNA-1m trains the probe, the new families of bpRNA-NF-15.0 test it
    pool = load_demo("rna").subset(np.arange(0, 4000, 40))
    config = EvaluationConfig(
        tasks=["structure"],
        structure_source="bprna",
        probe_train_sequences=40,
        probe_test_sequences=30,
        structure_max_length=120,
    )
    plan = prepare_evaluation(pool, config)
    assert leakage_report(plan.splits) == {"structure": 0}
    split = table.set_index("id")["split"]
    used = plan.splits[plan.splits["dataset"] == "structure"]
    for role in ("train", "test"):
        ids = used.loc[used["role"] == role, "id"]
        assert len(ids) and (split[ids] == role).all()


# ------------------------------------------------------------------ end to end


def test_reduced_demo_writes_the_curves_contract(demo_like) -> None:
    run_dir, result = demo_like
    on_disk = load_curves(run_dir)
    for curves in (result.curves, on_disk):
        assert list(curves.columns) == list(CURVE_COLUMNS)
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
    assert len(final) == 5 * 6
    table = results_table(result.curves, subsets=["cci", "topi", "random", "random10x", "full"])
    assert list(table.index) == ["untrained", "cci", "topi", "random", "random10x", "full"]
    assert table.loc["untrained", "steps"] == 0
    assert table.loc["cci", "mlm perplexity ↓"].count("±") == 1
    summary_file = read_json(result.directory / "summary.json")
    assert summary_file["leakage"] == {"family": 0, "mlm": 0, "structure": 0}
    assert summary_file["aliases"] == {"random10x": "full"}


def test_other_settings_are_refused_in_the_same_directory(demo_like) -> None:
    run_dir, _ = demo_like
    with pytest.raises(RunDirectoryError, match="holds an evaluation with other settings"):
        evaluate(run_dir, "random", [0], EvaluationConfig(**{**TINY, "epochs": 3}), progress=False)


def test_an_interrupted_evaluation_resumes_per_subset_and_seed(demo_like, tmp_path, monkeypatch):
    """Kill the second (subset, seed) mid-training, resume: the first is not redone, the
    second restarts cleanly, and the curves equal those of an uninterrupted run."""
    import biocoreset_viz.evaluation as evaluation
    import biocoreset_viz.train as train

    run_dir, reference = demo_like
    config = EvaluationConfig(**TINY)
    out = tmp_path / "evaluation"
    original = evaluation._evaluate_tasks

    def crash_in_full(tasks, model, alphabet, step, tokens, draw):
        if draw.subset == "full" and step > 0:
            raise KeyboardInterrupt  # as if the process were stopped here
        return original(tasks, model, alphabet, step, tokens, draw)

    monkeypatch.setattr(evaluation, "_evaluate_tasks", crash_in_full)
    with pytest.raises(KeyboardInterrupt):
        evaluate(run_dir, "random,full", [0], config, evaluation_dir=out, progress=False)
    assert (out / "parts" / "random" / "seed-0" / "result.json").is_file()
    assert (out / "parts" / "full" / "seed-0").is_dir()
    assert not (out / "parts" / "full" / "seed-0" / "result.json").exists()
    assert set(pd.read_parquet(out / "curves.parquet")["subset"]) == {"random"}
    finished = (out / "parts" / "random" / "seed-0" / "result.json").stat().st_mtime_ns

    monkeypatch.setattr(evaluation, "_evaluate_tasks", original)
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


def test_equal_steps_gives_every_subset_the_same_updates(tmp_path) -> None:
    run_dir = write_run(tmp_path, n=120)
    config = EvaluationConfig(**{**TINY, "tasks": ["mlm"], "budget": "steps", "steps": 7})
    result = evaluate(run_dir, "topi,full", [0], config, progress=False)
    assert result.parts.set_index("subset")["steps"].to_dict() == {"topi": 7, "full": 7}
    steps = result.curves.groupby("subset")["step"].apply(lambda s: sorted(set(s)))
    assert all(found == [0, 4, 7] for found in steps)  # checkpoints every ceil(7 / 2) steps


def test_versus_baseline_reads_differences_against_the_seeds_spread() -> None:
    from biocoreset_viz.evaluation import versus_baseline

    # final perplexity per (subset, seed); a step-0 row first, which must be ignored
    final = {
        "random": [4.0, 4.2],  # mean 4.1, sd 0.1414
        "cci": [4.05, 4.15],  # mean 4.1: within the spread
        "topi": [4.9, 5.1],  # mean 5.0: beyond it, worse (perplexity: lower is better)
        "full": [3.5, 3.52],  # mean 3.51: beyond it, better
    }
    rows = []
    for subset, values in final.items():
        for seed, value in enumerate(values):
            rows.append((subset, seed, 0, 0, "mlm", "perplexity", 20.0))
            rows.append((subset, seed, 10, 1000, "mlm", "perplexity", value))
            rows.append((subset, seed, 10, 1000, "family", "accuracy", 0.5 + 0.1 * seed))
    curves = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    table = versus_baseline(curves).set_index("subset")
    assert list(table.index) == ["cci", "topi", "full"]
    spread = np.std([4.0, 4.2], ddof=1)
    assert table.loc["cci", "difference"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["topi", "spread"] == pytest.approx(spread + np.std([4.9, 5.1], ddof=1))
    assert table["beyond_spread"].tolist() == [False, True, True]
    assert table["better"].tolist() == [False, False, True]
    accuracy = versus_baseline(curves, task="family", metric="accuracy")
    assert not accuracy["beyond_spread"].any()  # identical per seed: no difference
    with pytest.raises(ValueError, match="no subset 'random10x'"):
        versus_baseline(curves, baseline="random10x")
    with pytest.raises(ValueError, match="no structure f1"):
        versus_baseline(curves, task="structure", metric="f1")
