"""``biocoreset score INPUT... --model NAME_OR_PATH --out RUN_DIR``: self-influence and embeddings.

``--engine local`` (default) scores in this process; ``--engine ray`` streams the
input (several files, folders, globs, Parquet) through an actor pool on a Ray
cluster (see :mod:`biocoreset_viz.distributed`) into the same run directory.
"""

from __future__ import annotations

import argparse

from biocoreset_viz.errors import ConfigError


def _subset_size(text: str) -> int | float:
    """A fraction ("0.1") or a count ("2000")."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a fraction or a count: {text!r}") from error


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score every sequence's self-influence (resumable)",
        description="Fine-tune on a random Fisher subset (optional), fit the diagonal "
        "Fisher, and write every sequence's loss, self-influence and embedding to "
        "RUN_DIR/scores as Parquet shards. Run the same command again to resume.",
    )
    parser.add_argument(
        "input",
        nargs="+",
        help="FASTA, CSV/TSV or plain sequence file (gzip too); with --engine ray also "
        "several files, folders, globs and Parquet files (id, sequence, label columns)",
    )
    parser.add_argument(
        "--model",
        required=True,
        help="demo-rna, demo-protein, an ESM-2 name (esm2_t6_8M_UR50D ...), rna_fm_t12, "
        "or a checkpoint path",
    )
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--molecule", choices=("auto", "rna", "protein"), default="auto")
    parser.add_argument(
        "--fisher-subset",
        type=_subset_size,
        default=0.1,
        help="Fisher subset: a fraction of the pool (0.1) or a count (2000); default 0.1",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=1,
        help="MLM fine-tune epochs on the Fisher subset before fitting it (0 skips; default 1)",
    )
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="fine-tune learning rate")
    parser.add_argument(
        "--target",
        default="lm_head.dense.weight",
        help="target parameters: lm_head.dense.weight (default), lm_head, last_block, all, "
        "a parameter name, a comma-separated list of names, or a regular expression",
    )
    parser.add_argument("--loss", choices=("reconstruction", "mlm"), default="reconstruction")
    parser.add_argument(
        "--mlm-draws", type=int, default=4, help="mask draws per sequence (--loss mlm)"
    )
    parser.add_argument("--damping", type=float, default=1e-8, help="damping lambda (default 1e-8)")
    parser.add_argument("--damping-mode", choices=("absolute", "relative"), default="absolute")
    parser.add_argument(
        "--reference-padding",
        action="store_true",
        help="reproduce the published loss: pad to --reference-window tokens, padding counted",
    )
    parser.add_argument("--reference-window", type=int, default=1024)
    parser.add_argument(
        "--max-length", type=int, help="residues kept per sequence (default: model limit)"
    )
    parser.add_argument("--truncation", choices=("head", "error"), default="head")
    parser.add_argument("--max-tokens", type=int, default=8192, help="token budget per batch")
    parser.add_argument("--dtype", choices=("float32", "float64", "bfloat16"), default="float32")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard-size", type=int, default=4096, help="sequences per Parquet shard")
    parser.add_argument(
        "--precision",
        choices=("full", "bf16"),
        default="full",
        help="full (default): every step in --dtype; bf16: the encoder under bfloat16 "
        "autocast, gradients, Fisher and scores in float32/float64 (GPU fast path)",
    )
    parser.add_argument(
        "--packing",
        action="store_true",
        help="padding-free packing of each batch (variable-length attention; GPU fast path)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the encoder (slow to start)"
    )
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default): this process; ray: an actor pool on a Ray cluster "
        "(pip install 'biocoreset_viz[distributed]')",
    )
    engine.add_argument(
        "--ray-address",
        help="cluster to join: 'auto' (this node's cluster), ray://HOST:10001; default: "
        "$RAY_ADDRESS or a local cluster started here",
    )
    engine.add_argument(
        "--ray-actors", type=int, help="scoring actors (default: one per GPU, or per CPU)"
    )
    engine.add_argument(
        "--ray-cpus-per-actor", type=float, default=1.0, help="CPUs per actor (default 1)"
    )
    engine.add_argument(
        "--ray-gpus-per-actor",
        type=float,
        help="GPUs per actor (default: 1 on a cluster with GPUs, else 0)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run made with other settings"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace):
    """The :class:`InfluenceConfig` of parsed ``score`` arguments."""
    from biocoreset_viz.influence import InfluenceConfig

    target = args.target.split(",") if "," in args.target else args.target
    return InfluenceConfig(
        target=target,
        loss=args.loss,
        mlm_draws=args.mlm_draws,
        reference_padding=args.reference_padding,
        reference_window=args.reference_window,
        damping=args.damping,
        damping_mode=args.damping_mode,
        max_length=args.max_length,
        truncation=args.truncation,
        max_tokens=args.max_tokens,
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        fisher_subset=args.fisher_subset,
        shard_size=args.shard_size,
        precision=args.precision,
        packing=args.packing,
        compile=args.compile,
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from biocoreset_viz.influence import FinetuneSettings, score_run
    from biocoreset_viz.sequences import read_sequences

    config = config_from_args(args)
    settings = FinetuneSettings(epochs=args.finetune_epochs, learning_rate=args.finetune_lr)
    if config.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--device {config.device}: no CUDA device is available here")
    if args.engine == "ray":
        from biocoreset_viz.distributed import RayOptions, score_with_ray

        options = RayOptions(
            address=args.ray_address,
            num_actors=args.ray_actors,
            cpus_per_actor=args.ray_cpus_per_actor,
            gpus_per_actor=args.ray_gpus_per_actor,
        )
        table = score_with_ray(
            args.input,
            args.model,
            args.out,
            config,
            finetune_settings=settings,
            options=options,
            molecule=args.molecule,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    else:
        if len(args.input) > 1:
            raise ConfigError(
                f"{len(args.input)} input files: the local engine reads one; "
                "use --engine ray for sharded input"
            )
        sequences = read_sequences(args.input[0], molecule=args.molecule)
        table = score_run(
            sequences,
            args.model,
            args.out,
            config,
            finetune_settings=settings,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    counts = table.manifest["counts"]
    print(
        f"scored {counts['scored']:,} sequences ({counts['truncated']:,} truncated to "
        f"{table.manifest['max_length']} residues) into {args.out}"
    )
    scores = table.scores
    print(
        f"self-influence min/median/max  {scores.min():.4g} / {np.median(scores):.4g} / "
        f"{scores.max():.4g}"
    )
    return 0
