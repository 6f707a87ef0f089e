"""The demo experiment: do 10% CCI and Top-I coresets pretrain better than random 10%,
and how do they compare with random 10x (here the whole pool) and the full pool?

The same run as ``biocoreset evaluate --demo --out DIR`` (the bundled RNA demo run,
scored now with the demo model if the package lacks the precomputed one; five
subsets, three seeds, :meth:`EvaluationConfig.demo` settings), plus what a report
needs: wall time, CPU time (on a machine shared with other work the wall time
overstates the cost; CPU time over the threads used is what a dedicated machine
would take), the machine's load, and a Markdown report in ``DIR/demo_result.md``.
Resumable like the command: rerunning it finishes what is missing.

Usage::

    python benchmarks/demo_experiment.py                       # 3 seeds, torch's threads
    python benchmarks/demo_experiment.py --threads 2 --out demo-evaluation
    python benchmarks/demo_experiment.py --seeds 1 --epochs 1  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

GOAL_MINUTES = 20


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (MMseqs2)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="biocoreset-demo-evaluation", help="output folder")
    parser.add_argument("--seeds", type=int, default=3, help="seeds (default 3)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--epochs", type=int, help="override the demo's 4 epochs")
    parser.add_argument("--overwrite", action="store_true", help="start over")
    args = parser.parse_args()

    import torch

    from biocoreset_viz.evaluation import EvaluationConfig, demo_experiment, format_table

    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {"epochs": args.epochs} if args.epochs else {}
    config = EvaluationConfig.demo(**changes)
    out = Path(args.out)
    load_before = os.getloadavg()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    result = demo_experiment(out, seeds=args.seeds, config=config, overwrite=args.overwrite)
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_started
    load_after = os.getloadavg()

    table = format_table(result.table())
    parts = result.parts[result.parts["alias_of"].isna()]
    lines = [
        "# Demo experiment: coresets against random subsets",
        "",
        f"Pool: {len(result.plan.pretrain):,} pretraining sequences of the RNA demo run "
        f"({len(result.plan.heldout):,} held out by cluster); coreset = "
        f"{1 - config.pruning_rate:.0%}; {args.seeds} seeds; budget: {config.budget} "
        f"({config.epochs} epochs); model: ESM-2 {config.layers} layers x {config.embed_dim}.",
        f"Clustering: {result.plan.clustering}.",
        *[f"Note: {note}." for note in result.plan.notes],
        *[f"Note: {a} is the same set as {b} (trained once)." for a, b in result.aliases.items()],
        "",
        "Final checkpoint, mean ± sd over seeds (untrained = the shared initial weights):",
        "",
        table,
        "",
        f"Wall time {wall / 60:.1f} min (goal <= {GOAL_MINUTES} min on 2 CPU cores); "
        f"CPU time {cpu / 60:.1f} min with {torch.get_num_threads()} torch thread(s); "
        f"training and probing of the parts: {parts['seconds'].sum() / 60:.1f} min.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before and {load_after[0]:.1f} after (other work shares it "
        "when the load exceeds the threads used).",
    ]
    report = "\n".join(lines) + "\n"
    (out / "demo_result.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
