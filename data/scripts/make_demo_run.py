"""Make the precomputed demo run shipped as ``data/demo_run`` (``demo_run_path()``).

Run from the repository root after the demo models change (CPU, a few minutes)::

    python data/scripts/make_demo_run.py

It scores the RNA demo set with the demo RNA model exactly as ``biocoreset demo``
does (:func:`biocoreset_viz.demo.build_demo_run`), precomputes the dashboard's
default UMAP projection, and copies the run without the fine-tuned weights (a
finished run does not need them; they would add megabytes).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from biocoreset_viz.demo import DEMO_RUN_FOLDER, build_demo_run
from biocoreset_viz.projection import project_umap
from biocoreset_viz.runs import FINETUNED_NAME

DATA_DIR = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR / DEMO_RUN_FOLDER)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "run"
        table = build_demo_run(run_dir)
        project_umap(run_dir)
        (run_dir / FINETUNED_NAME).unlink()
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(run_dir, args.out)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(
        f"{len(table):,} sequences scored into {args.out} ({size / 1e6:.1f} MB) "
        f"in {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
