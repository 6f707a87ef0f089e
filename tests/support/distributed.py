"""The pool and settings the Ray-engine tests share (tests/distributed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.influence import InfluenceConfig
from biocoreset_viz.models import build_esm2, rna_alphabet, save_model

N_SEQUENCES = 60
SHARD_SIZE = 8  # 8 shards: 7 full, the last with 4 sequences


def random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGU"), rng.integers(5, 60))) for _ in range(n)]
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "sequence": sequences,
            "family": [f"fam{i % 3}" for i in range(n)],
        }
    )


def config() -> InfluenceConfig:
    return InfluenceConfig(shard_size=SHARD_SIZE, fisher_subset=16, device="cpu", max_tokens=400)


def write_pool_files(folder: Path) -> dict[str, Any]:
    """The same pool as one CSV (for the local engine) and as sharded CSV + Parquet input."""
    frame = random_frame(N_SEQUENCES)
    frame.to_csv(folder / "pool.csv", index=False)
    frame.iloc[:25].to_csv(folder / "shard-0.csv", index=False)
    frame.iloc[25:].to_parquet(folder / "shard-1.parquet", index=False)
    checkpoint = save_model(
        build_esm2(2, 32, 4, rna_alphabet(), seed=0), rna_alphabet(), folder / "model.pt"
    )
    return {
        "single": folder / "pool.csv",
        "sharded": [folder / "shard-0.csv", folder / "shard-1.parquet"],
        "model": checkpoint,
        "frame": frame,
    }
