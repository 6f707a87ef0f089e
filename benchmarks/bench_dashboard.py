"""Server-side time from a control change to every dashboard view recomputed.

For each size, a synthetic run is written to a temporary folder: lognormal
self-influence scores, 32-dimensional float16 embeddings drawn around family
centres, ``family`` and ``cluster`` labels, and a precomputed 2-D projection in
the run's projection cache (so no UMAP is computed here). Then, as a served
session does:

1. ``DataStore(run_dir)`` loads the run (startup, timed once);
2. the whole dashboard (``App``) is turned into Bokeh models in a document;
3. each timed change sets one control (α, the method, β) to a value not seen
   before (the store's selection cache is cleared, so every change selects
   anew) and returns when every view is updated: the selection, the histogram,
   stratum, label and neighbour tables, the summary cards, the sequence table,
   and every HoloViews plot's Bokeh data, including the datashader aggregation
   of the map above 50,000 points. That work runs synchronously inside the
   assignment, which is what a server does before it sends the changes.

The "data" column times the same changes on a store with no views attached
(what the views need, computed); "views" is the full update. Times are medians
over the changes of each kind.

Goals: <= 0.3 s at 100,000 sequences and <= 1 s at 1,000,000.

Usage::

    python benchmarks/bench_dashboard.py                 # 100,000 and 1,000,000
    python benchmarks/bench_dashboard.py --sizes 1e5 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from biocoreset_viz.projection import ProjectionSettings, pca_coordinates, write_projection
from biocoreset_viz.runs import ScoreTable

GOALS = {100_000: 0.3, 1_000_000: 1.0}
DIM = 32


def synthetic_run(folder: Path, size: int, seed: int = 0) -> Path:
    """A run directory of ``size`` sequences with scores, embeddings, labels and a map."""
    rng = np.random.default_rng(seed)
    n_families = max(10, size // 200)
    family = rng.zipf(1.6, size) % n_families  # a few large families, many small ones
    centres = rng.normal(scale=3.0, size=(n_families, DIM)).astype(np.float32)
    embeddings = centres[family] + rng.normal(size=(size, DIM)).astype(np.float32)
    frame = pd.DataFrame(
        {
            "index": np.arange(size, dtype=np.int64),
            "id": [f"seq{i}" for i in range(size)],
            "length": rng.integers(30, 400, size),
            "truncated": np.zeros(size, dtype=bool),
            "loss": rng.random(size),
            "self_influence": rng.lognormal(size=size),
            "family": [f"RF{f:05d}" for f in family],
            "cluster": [
                f"c{f * 4 + rng_c}"
                for f, rng_c in zip(family, rng.integers(0, 4, size), strict=True)
            ],
        }
    )
    run_dir = folder / f"run-{size}"
    table = ScoreTable(
        frame, embeddings.astype(np.float16), {"model": "synthetic", "molecule": "rna"}
    )
    table.save(run_dir)
    coordinates = pca_coordinates(embeddings)
    projection = pd.DataFrame(
        {"index": frame["index"], "x": coordinates[:, 0], "y": coordinates[:, 1]}
    )
    write_projection(run_dir, projection, ProjectionSettings())
    return run_dir


def changes(repeats: int) -> list[tuple[str, dict]]:
    """Control changes to time: α steps, method switches, β steps (each value new)."""
    steps: list[tuple[str, dict]] = []
    for i in range(repeats):
        steps.append(("α", {"pruning_rate": round(0.80 + 0.01 * i, 2)}))
    for i, method in enumerate(
        ["topi", "random", "cci", "bottomi", "topi", "cci"][: max(repeats, 3)]
    ):
        steps.append(("method", {"method": method, "pruning_rate": round(0.90 + 0.005 * i, 3)}))
    for i in range(repeats):
        steps.append(("β", {"method": "cci", "hard_cutoff": round(0.05 + 0.01 * i, 2)}))
    return steps


def time_changes(store, steps: list[tuple[str, dict]]) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU seconds per kind of change."""
    times: dict[str, list[tuple[float, float]]] = {}
    for kind, values in steps:
        store._selections.clear()  # every change selects anew
        wall, cpu = time.perf_counter(), time.process_time()
        store.param.update(**values)
        elapsed = (time.perf_counter() - wall, time.process_time() - cpu)
        if store.error:
            raise RuntimeError(f"{values}: {store.error}")
        times.setdefault(kind, []).append(elapsed)
    return {
        kind: (
            statistics.median(w for w, _ in values),
            statistics.median(c for _, c in values),
        )
        for kind, values in times.items()
    }


def timed(action: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def bench(size: int, repeats: int, folder: Path) -> dict[str, object]:
    from bokeh.document import Document

    from biocoreset_viz.app import App, DataStore
    from biocoreset_viz.app.store import load_score_table

    run_dir, build = timed(lambda: synthetic_run(folder, size))
    load_score_table.clear()
    data_store, startup = timed(lambda: DataStore(run_dir, umap=False))
    warm = [
        ("warm", {"pruning_rate": 0.7}),
        ("warm", {"method": "topi"}),
        ("warm", {"method": "cci"}),
    ]
    time_changes(data_store, warm)
    data = time_changes(data_store, changes(repeats))

    store = DataStore(run_dir, umap=False)
    app = App(store)
    _, render = timed(lambda: app.__panel__().get_root(Document()))
    time_changes(store, warm)  # compiles datashader's kernels
    views = time_changes(store, changes(repeats))
    return {
        "size": size,
        "build": build,
        "startup": startup,
        "render": render,
        "data": data,
        "views": views,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--repeats", type=int, default=5, help="changes of each kind")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        for size in [int(s) for s in args.sizes]:
            result = bench(size, args.repeats, Path(folder))
            rows.append(result)
            print(
                f"{size:,}: run written in {result['build']:.1f} s, store ready in "
                f"{result['startup']:.1f} s, page built in {result['render']:.1f} s",
                flush=True,
            )
    print()
    print(f"load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("wall: elapsed time; cpu: this process's CPU time (what the work costs without waiting")
    print("for other jobs on a shared machine). data: the store alone; views: the full update.")
    print()
    kinds = ["α", "method", "β"]
    header = f"{'sequences':>10} | {'':>5} | " + " | ".join(
        f"{k:>6} data {k:>6} views" for k in kinds
    )
    header += " | worst views | goal   | ok"
    print(header)
    print("-" * len(header))
    for row in rows:
        goal = GOALS.get(row["size"])
        for position, label in ((0, "wall"), (1, "cpu")):
            cells = " | ".join(
                f"{row['data'][k][position] * 1000:>9.0f}ms {row['views'][k][position] * 1000:>10.0f}ms"
                for k in kinds
            )
            worst = max(value[position] for value in row["views"].values())
            verdict = "-" if goal is None else ("yes" if worst <= goal else "NO")
            goal_text = "-" if goal is None else f"{goal:.1f} s"
            print(
                f"{row['size']:>10,} | {label:>5} | {cells} | {worst * 1000:>9.0f}ms | "
                f"{goal_text:<6} | {verdict}"
            )


if __name__ == "__main__":
    main()
