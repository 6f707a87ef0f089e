"""Scored run directories without a model: the manifest a scoring run writes, and its shards.

For the tests of whole reads (tests/test_run_check.py, tests/cli/test_select.py,
tests/selection/...): :func:`scored_run` writes ``RUN_DIR/manifest.json`` with a
status, the input count and the shard layout, and ``scores/part-*.parquet`` cut as
the scorer cuts them; :func:`holder` starts a process that holds a run's writer
lock, as a scoring run does, until it is killed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from biocoreset_viz.runs import SCORES_DIR, SHARD_PATTERN, read_json, write_json, write_shard


def scored_run(
    folder: Path, n: int = 400, shard_size: int = 40, *, status: str = "complete"
) -> tuple[Path, pd.DataFrame]:
    """A run of ``n`` scored sequences in shards of ``shard_size``; ``(run_dir, frame)``."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"index": np.arange(n, dtype=np.int64)})
    frame["id"] = [f"rna{i:04d}" for i in range(n)]
    frame = frame.assign(length=rng.integers(20, 120, n), truncated=False)
    frame = frame.assign(loss=rng.random(n), self_influence=rng.lognormal(9, 0.3, n))
    embeddings = rng.normal(size=(n, 4)).astype(np.float16)
    run_dir = folder / "run"
    for part, start in enumerate(range(0, n, shard_size)):
        rows = slice(start, start + shard_size)
        write_shard(
            run_dir / SCORES_DIR / SHARD_PATTERN.format(part),
            frame.iloc[rows].reset_index(drop=True),
            embeddings[rows],
        )
    manifest = {
        "status": status,
        "molecule": "rna",
        "input": {"path": "pool.fa", "count": n},
        "config": {"shard_size": shard_size},
        "shards": {"count": -(-n // shard_size), "rows": n, "rows_per_shard": shard_size},
    }
    if status == "complete":
        manifest["counts"] = {"scored": n, "truncated": 0, "skipped": 0}
    write_json(run_dir / "manifest.json", manifest)
    return run_dir, frame


def set_status(run_dir: Path, status: str) -> None:
    manifest = read_json(run_dir / "manifest.json")
    manifest["status"] = status
    write_json(run_dir / "manifest.json", manifest)


def holder(run_dir: Path) -> subprocess.Popen:
    """A process that takes ``run_dir``'s writer lock and keeps it until killed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    code = (
        "import sys, time; from biocoreset_viz.run_lock import RunLock; "
        "RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(300)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held", "the holder did not start"
    return process
