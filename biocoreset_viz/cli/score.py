"""``biocoreset score INPUT... --model NAME_OR_PATH --out RUN_DIR``: self-influence and embeddings.

``--engine local`` (default) scores in this process; ``--engine ray`` streams the
input (several files, folders, globs, Parquet) through an actor pool on a Ray
cluster (see :mod:`biocoreset_viz.distributed`) into the same run directory.

The score settings and runtime options are the fields of
:class:`~biocoreset_viz.influence.ScoreSettings` and
:class:`~biocoreset_viz.influence.RuntimeOptions`: each is an option named after
its field (``damping`` is ``--damping``), with the field's default, choices and
help text, so that the command line and ``InfluenceConfig.help()`` say the same.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from biocoreset_viz.cli import add_command
from biocoreset_viz.errors import ConfigError


def _subset_size(text: str) -> int | float:
    """A fraction ("0.1") or a count ("2000")."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a fraction or a count: {text!r}") from error


def _targets(text: str) -> str | list[str]:
    """A target name, preset or regular expression; a comma-separated list of names."""
    return text.split(",") if "," in text else text


# Fields whose values the command line reads in its own way.
FIELD_TYPES = {"fisher_subset": _subset_size, "target": _targets}
FIELD_METAVARS = {"target": "NAMES", "fisher_subset": "SIZE"}


def _option_keywords(item: dataclasses.Field, hint: Any) -> dict[str, Any]:
    """``add_argument`` keywords of a settings field: type or choices, default, help."""
    help_text = item.metadata["help"].replace("%", "%%")
    if isinstance(item.default, bool):
        return {"action": "store_true", "help": help_text}
    keywords: dict[str, Any] = {
        "default": item.default,
        "help": f"{help_text} (default %(default)s)",
    }
    if typing.get_origin(hint) is typing.Literal:
        keywords["choices"] = typing.get_args(hint)
    elif item.name in FIELD_TYPES:
        keywords.update(type=FIELD_TYPES[item.name], metavar=FIELD_METAVARS[item.name])
    elif hint in (int, float) or int in typing.get_args(hint):
        keywords["type"] = hint if hint in (int, float) else int
    return keywords


def add_settings_options(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """One option per field of the settings dataclass ``cls``, in a group titled ``title``."""
    group = parser.add_argument_group(title)
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        option = "--" + item.name.replace("_", "-")
        group.add_argument(option, **_option_keywords(item, hints[item.name]))


def register(subparsers: argparse._SubParsersAction) -> None:
    from biocoreset_viz.influence.config import RuntimeOptions, ScoreSettings

    parser = add_command(
        subparsers,
        "score",
        run,
        summary="score every sequence's self-influence (resumable)",
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
        help="a model name (`biocoreset models` lists them: demo-rna, demo-protein, "
        "sapiens-vh, sapiens-vl, esm2_t6_8M_UR50D ..., rna_fm_t12, esmc_300m ...), a cached "
        "Hugging Face hub name (facebook/esm2_t6_8M_UR50D), a save_pretrained folder, or a "
        "checkpoint path",
    )
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory")
    parser.add_argument("--molecule", choices=("auto", "rna", "protein"), default="auto")
    parser.add_argument(
        "--collapse-duplicates",
        action="store_true",
        help="score one copy of each exact duplicate sequence (the first; its `copies` "
        "label column counts them); `biocoreset info FILE` counts the duplicates",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=1,
        help="MLM fine-tune epochs on the Fisher subset before fitting it (0 skips; default 1)",
    )
    parser.add_argument("--finetune-lr", type=float, default=1e-4, help="fine-tune learning rate")
    add_settings_options(parser, ScoreSettings, "score settings (what the score is)")
    add_settings_options(parser, RuntimeOptions, "runtime options (how it runs)")
    _add_engine_options(parser)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a run made with other settings"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
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


def config_from_args(args: argparse.Namespace):
    """The :class:`~biocoreset_viz.influence.InfluenceConfig` of parsed ``score`` arguments."""
    from biocoreset_viz.influence import InfluenceConfig

    fields = dataclasses.fields(InfluenceConfig)
    return InfluenceConfig(**{item.name: getattr(args, item.name) for item in fields})


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

        if args.collapse_duplicates:
            raise ConfigError(
                "--collapse-duplicates works with the local engine; with --engine ray, "
                "collapse the input first"
            )

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
        if args.collapse_duplicates:
            collapsed = sequences.collapse_duplicates()
            print(
                f"collapsed {len(sequences) - len(collapsed):,} duplicate records: scoring "
                f"{len(collapsed):,} distinct sequences"
            )
            sequences = collapsed
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
