"""The demo experiment: do CCI, Top-I and length-adjusted CCI coresets pretrain better than random
subsets of the same size, ten times larger, and the full pool, at equal training tokens?

Two pools (``--pool``):

* ``demo`` (default): the bundled RNA demo run (4,223 RNAs scored by the demo
  model); coreset 10%, so ``random10x`` is the whole pretraining pool (trained
  once, reported as ``full``). The same run as ``biocoreset evaluate --demo
  --budget tokens --seeds 5 --selections cci,topi,cci-length_adjusted,random,random10x,full``.
* ``demo+bprna``: the demo RNAs plus the ``train`` split of the bpRNA-derived set
  (``--bprna``, default ``../shared/data/bprna.csv.gz`` beside the checkout; about
  15,900 RNAs, many from the same Rfam families: a larger, more redundant pool).
  The file is read where it is, never copied into the repository; the pool is
  written to ``OUT/pool.csv`` and scored with the demo model into ``OUT/run``
  (the demo's scoring settings, resumable). The pruning rate defaults to 0.95,
  so ``random10x`` (half the pool) is a proper subset of it.

Defaults: ``--budget tokens`` (every subset trained on the tokens the full pool
sees in ``--epochs`` passes), 5 seeds, the demo's model and probes
(:meth:`EvaluationConfig.demo`). Writes ``OUT/demo_result.md``: the final metrics,
the paired comparisons (per seed, subset minus baseline, 95% paired t interval,
verdict), the unigram floor, the tokens each subset saw, wall and CPU time.
Resumable like the command: rerunning it finishes what is missing.

Usage::

    python benchmarks/demo_experiment.py --threads 2 --out demo-evaluation
    python benchmarks/demo_experiment.py --pool demo+bprna --threads 2 --out larger-evaluation
    python benchmarks/demo_experiment.py --seeds 1 --epochs 1 --checkpoints 2  # a quick look
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from pathlib import Path

import pandas as pd

DEFAULT_SUBSETS = "cci,topi,cci-length_adjusted,random,random10x,full"
SHARED_BPRNA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bprna.csv.gz"
PRUNING_RATE = {"demo": 0.9, "demo+bprna": 0.95}


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (MMseqs2)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def larger_pool_run(out: Path, bprna: Path, *, progress: bool = True) -> Path:
    """Score the demo RNAs plus bpRNA's train split with the demo model into ``out/run``."""
    from biocoreset_viz.datasets import load_demo
    from biocoreset_viz.demo import demo_config, demo_finetune
    from biocoreset_viz.influence import score_run
    from biocoreset_viz.sequences import read_sequences

    csv = out / "pool.csv"
    if not csv.is_file():
        demo = load_demo("rna").to_frame()
        frame = pd.read_csv(bprna, dtype=str, keep_default_na=False)
        frame = frame[frame["split"] == "train"]
        extra = pd.DataFrame({"id": frame["id"], "sequence": frame["sequence"]})
        columns = ["id", "sequence", "family", "cluster"]
        pool = pd.concat([demo[[c for c in columns if c in demo]], extra], ignore_index=True)
        out.mkdir(parents=True, exist_ok=True)
        pool.to_csv(csv, index=False)
    run_dir = out / "run"
    score_run(
        read_sequences(csv, molecule="rna"),
        "demo-rna",
        run_dir,
        demo_config(),
        finetune_settings=demo_finetune(),
        progress=progress,
    )
    return run_dir


def length_lines(result, run_dir: Path) -> list[str]:
    """How self-influence goes with length, and the tokens each subset saw against random."""
    from biocoreset_viz.runs import ScoreTable
    from biocoreset_viz.score_variants import length_correlation, score_values

    frame = ScoreTable.load(run_dir, embeddings=False).frame
    rho = length_correlation(frame["self_influence"], frame["length"])
    adjusted = length_correlation(score_values(frame, "length_adjusted"), frame["length"])
    tokens = result.parts.groupby("subset")["tokens_seen"].mean()
    lines = [
        f"Spearman correlation with length: self-influence {rho:+.2f}, "
        f"length-adjusted {adjusted:+.2f}.",
    ]
    if "random" in tokens:
        ratios = ", ".join(f"{s} {tokens[s] / tokens['random']:.2f}x" for s in tokens.index)
        lines.append(f"Tokens seen against random: {ratios}.")
    return lines


def report(args, config, result, run_dir: Path, wall: float, cpu: float, load) -> str:
    import torch

    from biocoreset_viz.evaluation import format_comparisons, format_table, metric_floors

    parts = result.parts[result.parts["alias_of"].isna()]
    floors = metric_floors(result.plan)
    lines = [
        f"# Demo experiment ({args.pool} pool): coresets against random subsets",
        "",
        f"Pool: {len(result.plan.pretrain):,} pretraining sequences ({len(result.plan.heldout):,} "
        f"held out by cluster); coreset = {1 - config.pruning_rate:.0%}; {args.seeds} seeds; "
        f"budget: equal {config.budget} ({result.budget[config.budget]:,} per subset); model: "
        f"ESM-2 {config.layers} layers x {config.embed_dim}.",
        f"Clustering: {result.plan.clustering}.",
        *[f"Note: {note}." for note in result.plan.notes],
        *[f"Note: {a} is the same set as {b} (trained once)." for a, b in result.aliases.items()],
        *length_lines(result, run_dir),
        *[
            f"Floor: {task} perplexity {f['unigram_perplexity']:.3f} from the pool's residue "
            "frequencies alone."
            for task, f in floors.items()
        ],
        "",
        "Final checkpoint, mean ± sd over seeds (untrained = the shared initial weights):",
        "",
        format_table(result.table()),
        "",
        "Paired comparisons (subset minus baseline, seed by seed; 95% paired t interval):",
        "",
        format_comparisons(result.comparisons()),
        "",
        f"Wall time {wall / 60:.1f} min; CPU time {cpu / 60:.1f} min with "
        f"{torch.get_num_threads()} torch thread(s); training and probing of the parts: "
        f"{parts['seconds'].sum() / 60:.1f} min.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load[0][0]:.1f} before and {load[1][0]:.1f} after (other work shares it when the "
        "load exceeds the threads used).",
    ]
    return "\n".join(lines) + "\n"


def print_part(part: dict) -> None:
    """One line per finished (subset, seed), with its time (a log to follow a long run)."""
    alias = f" (= {part['alias_of']})" if part.get("alias_of") else ""
    print(
        f"{time.strftime('%H:%M:%S')} finished {part['subset']} seed {part['seed']}{alias}: "
        f"{part['n_sequences']:,} sequences, {part['steps']:,} steps, "
        f"{part.get('tokens_seen', 0):,} tokens, {part['seconds']:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", choices=sorted(PRUNING_RATE), default="demo")
    parser.add_argument("--bprna", type=Path, default=SHARED_BPRNA, help="bprna.csv.gz")
    parser.add_argument("--out", default="biocoreset-demo-evaluation", help="output folder")
    parser.add_argument("--subsets", default=DEFAULT_SUBSETS)
    parser.add_argument("--seeds", type=int, default=5, help="seeds (default 5)")
    parser.add_argument("--budget", choices=("epochs", "steps", "tokens"), default="tokens")
    parser.add_argument("--epochs", type=int, help="the demo's 4 (sets the token budget)")
    parser.add_argument("--tokens", type=int, help="tokens per subset (default: from --epochs)")
    parser.add_argument("--checkpoints", type=int, help="evaluations during training (4)")
    parser.add_argument("--pruning-rate", type=float, help="default 0.9 (demo), 0.95 (larger)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--overwrite", action="store_true", help="start over")
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars: one line per finished part"
    )
    args = parser.parse_args()

    import torch

    from biocoreset_viz.evaluation import EvaluationConfig, demo_experiment, evaluate
    from biocoreset_viz.runs import read_json

    if args.threads:
        torch.set_num_threads(args.threads)
    changes = {
        "budget": args.budget,
        "pruning_rate": args.pruning_rate or PRUNING_RATE[args.pool],
        **{k: getattr(args, k) for k in ("epochs", "tokens", "checkpoints") if getattr(args, k)},
    }
    config = EvaluationConfig.demo(**changes)
    out = Path(args.out)
    options = {"overwrite": args.overwrite, "progress": not args.quiet, "on_part": print_part}
    load_before = os.getloadavg()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    if args.pool == "demo":
        result = demo_experiment(
            out, subsets=args.subsets, seeds=args.seeds, config=config, **options
        )
        # the shipped demo run, or the one scored into OUT/run when the package lacks it
        run_dir = Path(read_json(result.directory / "config.json")["run_dir"])
    else:
        run_dir = larger_pool_run(out, args.bprna, progress=not args.quiet)
        result = evaluate(
            run_dir, args.subsets, args.seeds, config, evaluation_dir=out / "evaluation", **options
        )
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_started
    text = report(args, config, result, run_dir, wall, cpu, (load_before, os.getloadavg()))
    (out / "demo_result.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
