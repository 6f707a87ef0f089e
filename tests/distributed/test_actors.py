"""The shard scorer: the local engine's step under the driver's plan, without a cluster."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from support.distributed import N_SEQUENCES, SHARD_SIZE, config

from biocoreset_viz.distributed import ShardScorer, ShardWork, stage_inputs
from biocoreset_viz.influence import (
    accumulate_fisher,
    fisher_subset_indices,
    plan_scoring,
    score_locally,
)
from biocoreset_viz.models import load_model
from biocoreset_viz.runs import shard_paths
from biocoreset_viz.sequences import read_sequences


def test_both_engines_run_one_plan_to_the_same_scores(tmp_path, pool_files, one_torch_thread):
    staged = stage_inputs(
        pool_files["sharded"], tmp_path / "ray", shard_size=SHARD_SIZE, progress=False
    )
    pool = read_sequences(pool_files["single"])
    model, alphabet = load_model(pool_files["model"])
    plan = plan_scoring(model, staged, config(), alphabet=alphabet)
    in_memory = plan_scoring(model, pool, config(), alphabet=alphabet)
    # The same plan from the staged input as from the sequences in memory:
    assert dataclasses.replace(plan, input_record=in_memory.input_record) == in_memory
    assert plan.input_record["sha256"] == in_memory.input_record["sha256"]
    assert plan.input_record["staged"] == "inputs"

    subset = fisher_subset_indices(plan.count, plan.settings.fisher_subset, plan.settings.seed)
    fisher = accumulate_fisher(plan, model, pool, subset, progress=False)
    local = score_locally(plan, model, fisher, pool, tmp_path / "local", progress=False)
    scorer = ShardScorer(ShardWork(plan, model, fisher, staged), str(tmp_path / "ray"), threads=1)
    done = scorer({"part": np.arange(plan.n_parts)})
    assert done["part"].tolist() == list(range(8)) and done["rows"].sum() == N_SEQUENCES

    actor = pd.concat(pd.read_parquet(p) for p in shard_paths(tmp_path / "ray"))
    actor = actor.sort_values("index").reset_index(drop=True)
    assert actor["index"].tolist() == list(range(N_SEQUENCES))
    np.testing.assert_array_equal(actor["self_influence"], local.scores)
    np.testing.assert_array_equal(actor["loss"], local.frame["loss"])
    np.testing.assert_array_equal(actor["gradient_norm"], local.frame["gradient_norm"])
    np.testing.assert_array_equal(np.stack(actor["embedding"]), local.embeddings)
