"""Run directories and settings for the evaluation tests (``from support.evaluation_runs import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.runs import ScoreTable

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

# the bpRNA-derived structure set, beside the checkout (not shipped with the package)
SHARED_BPRNA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bprna.csv.gz"

needs_shared_bprna = pytest.mark.skipif(
    not SHARED_BPRNA.is_file() and os.environ.get("BIOCORESET_REQUIRE_SHARED") != "1",
    reason=f"the bpRNA-derived structures ({SHARED_BPRNA}) are not beside this checkout",
)


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
