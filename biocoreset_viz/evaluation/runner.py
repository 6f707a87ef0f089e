"""Running an evaluation: pretrain a fresh model per (subset, seed), probe its checkpoints, write it all.

:func:`evaluate` is the entry point (see :mod:`biocoreset_viz.evaluation` for
what it does); :func:`demo_experiment` runs it on the bundled demo run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.evaluation.comparisons import compare_final, compare_subsets, comparison_records
from biocoreset_viz.evaluation.config import (
    DEFAULT_SUBSETS,
    EvaluationConfig,
    parse_seeds,
    parse_subsets,
)
from biocoreset_viz.evaluation.curve_summary import (
    area_values,
    curve_metrics,
    summarize_curve_metrics,
)
from biocoreset_viz.evaluation.curves import curves_frame, summarize_curves, write_parquet
from biocoreset_viz.evaluation.parts import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    RESULT_NAME,
    SPLITS_NAME,
    SUMMARY_NAME,
    TRAIN_LOG_NAME,
    collect_curves,
    copy_alias,
    finished_parts,
    part_done,
    start_part,
)
from biocoreset_viz.evaluation.plan import EvaluationPlan, prepare_evaluation
from biocoreset_viz.evaluation.results import results_table
from biocoreset_viz.evaluation.splits import leakage_report
from biocoreset_viz.evaluation.subsets import (
    SubsetDraw,
    draw_subset,
    draw_subsets,
    epoch_tokens,
    planned_steps,
)
from biocoreset_viz.evaluation.tasks import Task
from biocoreset_viz.runs import CURVES_NAME, EVALUATION_DIR, read_json, read_manifest, write_json
from biocoreset_viz.sequences import SequenceSet

# A part's result: subset, seed, size, method, alias, steps, epochs, tokens, seconds ...
PartResult = dict[str, Any]


@dataclass
class EvaluationResult:
    """What :func:`evaluate` produced.

    Attributes:
        directory: the evaluation directory (``RUN_DIR/evaluation`` by default).
        curves: the learning curves (the contract's columns).
        parts: one row per finished (subset, seed): size, steps, tokens, seconds,
            alias.
        plan: the splits and tasks.
        aliases: subset -> the subset it equals.
        subsets: the subsets asked for, in order.
        budget: the budget's kind and amount (``{"kind": "tokens", "tokens": N}``).
    """

    directory: Path
    curves: pd.DataFrame
    parts: pd.DataFrame
    plan: EvaluationPlan
    aliases: dict[str, str] = field(default_factory=dict)
    subsets: list[str] = field(default_factory=list)
    budget: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> pd.DataFrame:
        """Plot-ready mean ± sd per subset and checkpoint (:func:`summarize_curves`)."""
        return summarize_curves(self.curves)

    def table(self, digits: int = 3) -> pd.DataFrame:
        """Final metrics, ``mean ± sd`` per subset (:func:`results_table`)."""
        return results_table(self.curves, subsets=self.subsets or None, digits=digits)

    def comparisons(self, **options: Any) -> pd.DataFrame:
        """Paired comparisons of the final values with the baselines, per seed, with 95%
        intervals and verdicts (:func:`~biocoreset_viz.evaluation.comparisons.compare_subsets`)."""
        options = {"subsets": self.subsets or None, "aliases": self.aliases, **options}
        return compare_final(self.curves, **options)

    def curve_metrics(self) -> pd.DataFrame:
        """Final value, area under the curve and tokens to target, per subset and seed
        (:func:`~biocoreset_viz.evaluation.curve_summary.curve_metrics`)."""
        return curve_metrics(self.curves)


@dataclass
class _Session:
    """What every part of one :func:`evaluate` call shares."""

    pool: SequenceSet
    plan: EvaluationPlan
    config: EvaluationConfig
    directory: Path
    total_steps: int  # of the 'steps' budget
    total_tokens: int  # of the 'tokens' budget
    progress: bool
    # seed -> the rows of the untrained model: every subset of a seed starts from it
    initial_rows: dict[int, list[dict]] = field(default_factory=dict)


def _evaluate_tasks(
    tasks: Sequence[Task], model, alphabet, step: int, tokens: int, draw
) -> list[dict]:
    rows = []
    for task in tasks:
        for task_name, metric, value in task.evaluate(model, alphabet):
            rows.append(
                {
                    "subset": draw.subset,
                    "seed": draw.seed,
                    "step": step,
                    "tokens_seen": tokens,
                    "task": task_name,
                    "metric": metric,
                    "value": float(value),
                }
            )
    return rows


@dataclass(frozen=True)
class _Budget:
    """How long one part trains."""

    epochs: int | None  # passes (budget 'epochs')
    max_steps: int | None  # the optimiser steps train_mlm is given
    planned: int  # the steps checkpoints are spaced over
    tokens: int | None = None  # stop at the first step that reaches it (budget 'tokens')


class _BudgetSpent(Exception):
    """Raised from the checkpoint callback to end training once the token budget is spent."""


def _budget(draw: SubsetDraw, session: _Session) -> _Budget:
    """One part's training length under the configured budget.

    Under ``tokens``, the steps are planned from the subset's mean tokens per step
    (its batches are fixed per epoch up to order), with a small margin; training
    stops at the first step whose ``tokens_seen`` reaches the budget, so every
    subset ends within one batch of it.
    """
    config = session.config
    lengths = session.pool.lengths[draw.indices]
    if config.budget == "epochs":
        planned = planned_steps(lengths, config) * config.epochs
        return _Budget(config.epochs, None, planned)
    if config.budget == "steps":
        return _Budget(None, session.total_steps, session.total_steps)
    per_epoch_steps, per_epoch_tokens = (
        planned_steps(lengths, config),
        epoch_tokens(lengths, config),
    )
    planned = max(1, math.ceil(session.total_tokens * per_epoch_steps / per_epoch_tokens))
    margin = max(2, math.ceil(0.02 * planned))
    return _Budget(None, planned + margin, planned, session.total_tokens)


def _train_part(
    draw: SubsetDraw, session: _Session, folder: Path
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Pretrain a fresh model on the part's subset, probing it before training and at
    every checkpoint.

    The model's initial weights come from the seed alone (``build_esm2(seed=...)``),
    and so do the generators of its masks, batch order and crops
    (``train_mlm(seed=...)``): the parts of one seed differ only in their data.

    Returns:
        ``(curve rows, training log, facts for result.json)``.
    """
    import torch

    from biocoreset_viz.influence import model_fingerprint, resolve_device
    from biocoreset_viz.models import alphabet_for_molecule, build_esm2, save_model
    from biocoreset_viz.train import train_mlm

    config, tasks = session.config, session.plan.tasks
    device = resolve_device(config.device)
    alphabet = alphabet_for_molecule(session.pool.molecule)
    model = build_esm2(config.layers, config.embed_dim, config.heads, alphabet, seed=draw.seed)
    model.to(device)
    facts = {"initial_weights": model_fingerprint(model)}
    if draw.seed not in session.initial_rows:
        session.initial_rows[draw.seed] = _evaluate_tasks(tasks, model, alphabet, 0, 0, draw)
    rows = [{**row, "subset": draw.subset} for row in session.initial_rows[draw.seed]]
    budget = _budget(draw, session)
    every = max(1, math.ceil(budget.planned / config.checkpoints))
    checkpoint_dir = folder / CHECKPOINTS_DIR
    seen: list[list[dict]] = []

    def on_checkpoint(step: int, network, log: list[dict]) -> None:
        tokens = int(log[-1]["tokens_seen"])
        spent = budget.tokens is not None and tokens >= budget.tokens
        last = spent or step >= (budget.max_steps or budget.planned)
        if not (last or step % every == 0):
            return
        rows.extend(_evaluate_tasks(tasks, network, alphabet, step, tokens, draw))
        if config.keep_checkpoints == "all" or (config.keep_checkpoints == "last" and last):
            # save_model writes in place: write beside, then rename, so a checkpoint is whole or absent
            partial_file = save_model(network, alphabet, checkpoint_dir / ".partial.pt", half=True)
            os.replace(partial_file, checkpoint_dir / f"step-{step:07d}.pt")
        if spent:
            seen.append(log)
            raise _BudgetSpent

    try:
        log = train_mlm(
            model,
            alphabet,
            [session.pool.sequences[i] for i in draw.indices],
            epochs=budget.epochs,
            max_steps=budget.max_steps,
            max_tokens=config.max_tokens,
            max_length=config.max_length,
            crop="random",
            lr=config.learning_rate,
            seed=draw.seed,
            device=device,
            # under a token budget every step is looked at, to stop at the one that spends it
            checkpoint_every=1 if budget.tokens is not None else every,
            on_checkpoint=on_checkpoint,
            progress=session.progress,
        )
    except _BudgetSpent:
        log = seen[0]
    facts.update(
        budget=config.budget,
        planned_steps=budget.planned,
        target_tokens=budget.tokens,
        threads=torch.get_num_threads(),
    )
    return rows, log, facts


def _run_part(draw: SubsetDraw, session: _Session) -> PartResult:
    """Pretrain and evaluate one (subset, seed); its result.json is written last."""
    started = time.perf_counter()
    folder = start_part(session.directory, draw, session.pool)
    result: PartResult = {
        "subset": draw.subset,
        "seed": draw.seed,
        "n_sequences": len(draw.indices),
        "method": draw.method,
        "alias_of": draw.alias_of,
    }
    if draw.alias_of is not None:
        return copy_alias(session.directory, draw, result)
    rows, log, facts = _train_part(draw, session, folder)
    write_parquet(folder / TRAIN_LOG_NAME, pd.DataFrame(log))
    write_parquet(
        folder / CURVES_NAME, curves_frame({**r, "budget": facts["budget"]} for r in rows)
    )
    result.update(
        steps=int(log[-1]["step"]),
        epochs=int(log[-1]["epoch"]),
        tokens_seen=int(log[-1]["tokens_seen"]),
        final_train_loss=float(log[-1]["loss"]),
        seconds=round(time.perf_counter() - started, 2),
        **facts,
    )
    write_json(folder / RESULT_NAME, result)
    return result


def _pool_with_labels(run_dir: Path, manifest: dict[str, Any], table) -> SequenceSet:
    """The run's scored sequences, with the label columns its scores carry."""
    from biocoreset_viz.runs import run_sequences

    pool = run_sequences(run_dir, manifest)
    if list(pool.ids) != [str(i) for i in table.ids]:
        raise RunDirectoryError(
            f"{run_dir}: the scored ids do not match the sequences recorded in the manifest"
        )
    label_columns = [c for c in ("family", "cluster", "structure") if c in table.frame]
    if label_columns and (pool.labels is None or not set(label_columns) <= set(pool.labels)):
        extra = table.frame[label_columns].reset_index(drop=True)
        pool.labels = extra if pool.labels is None else pool.labels.join(extra, rsuffix="_scores")
    return pool


def _start_over(directory: Path, overwrite: bool, refusal: str) -> None:
    """Delete an evaluation directory that cannot be resumed, or refuse with ``refusal``."""
    if not overwrite:
        raise RunDirectoryError(refusal)
    shutil.rmtree(directory)


def _check_settings(directory: Path, identity: dict[str, Any], overwrite: bool) -> None:
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        return
    recorded = read_json(config_path).get("identity")
    if json.loads(json.dumps(identity, default=str)) != recorded:
        _start_over(
            directory,
            overwrite,
            f"{directory} holds an evaluation with other settings or of another run; "
            "use another directory or overwrite=True (--overwrite) to start over",
        )


def _check_splits(directory: Path, plan: EvaluationPlan, overwrite: bool) -> None:
    splits_path = directory / SPLITS_NAME
    if splits_path.is_file() and not pd.read_parquet(splits_path).equals(plan.splits):
        _start_over(
            directory,
            overwrite,
            f"{directory}: the splits differ from the recorded ones (was the clustering "
            "program installed or removed?); use overwrite=True (--overwrite) to start over",
        )


def _record_settings(
    directory: Path,
    identity: dict[str, Any],
    config: EvaluationConfig,
    run_dir: Path,
    plan: EvaluationPlan,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_json(
        directory / CONFIG_NAME,
        {"identity": identity, "config": config.to_dict(), "run_dir": str(run_dir.resolve())},
    )
    if not (directory / SPLITS_NAME).is_file():
        write_parquet(directory / SPLITS_NAME, plan.splits)


def _run_parts(
    draws: list[SubsetDraw],
    session: _Session,
    on_part: Callable[[PartResult], None] | None,
) -> None:
    """Run the parts not finished yet (aliases after what they copy), with a progress bar;
    the directory's curves are rewritten after each."""
    from tqdm.auto import tqdm

    directory = session.directory
    todo = [d for d in draws if not part_done(directory, d.subset, d.seed)]
    todo.sort(key=lambda d: d.alias_of is not None)
    done = len(draws) - len(todo)
    with tqdm(
        total=len(draws), initial=done, desc="evaluate", unit="model", disable=not session.progress
    ) as bar:
        for draw in todo:
            bar.set_postfix(subset=draw.subset, seed=draw.seed, n=len(draw.indices))
            result = _run_part(draw, session)
            write_parquet(directory / CURVES_NAME, collect_curves(directory))
            bar.update(1)
            if on_part is not None:
                on_part(result)


def _budget_record(session: _Session) -> dict[str, Any]:
    config = session.config
    amount = {"epochs": config.epochs, "steps": session.total_steps, "tokens": session.total_tokens}
    return {"kind": config.budget, config.budget: amount[config.budget]}


def metric_floors(plan: EvaluationPlan) -> dict[str, dict[str, float]]:
    """What a trained model must beat besides the untrained one: the MLM task's unigram
    loss and perplexity (the pool's residue frequencies; below them a model learned context)."""
    return {
        task.name: {
            "unigram_loss": task.unigram_loss,
            "unigram_perplexity": math.exp(task.unigram_loss),
        }
        for task in plan.tasks
        if getattr(task, "unigram_loss", None) is not None
    }


def _statistics(curves: pd.DataFrame, names: list[str], aliases: dict[str, str]) -> dict:
    """What summary.json records of the curves: paired comparisons (final values and
    areas) and the curve metrics over seeds."""
    per_curve = curve_metrics(curves)
    options = {"subsets": names, "aliases": aliases}
    return {
        "comparisons": comparison_records(compare_final(curves, **options)),
        "area_comparisons": comparison_records(compare_subsets(area_values(per_curve), **options)),
        "curve_metrics": summarize_curve_metrics(per_curve).to_dict("records"),
    }


def _write_summary(
    session: _Session,
    run_dir: Path,
    names: list[str],
    seeds: list[int],
    aliases: dict[str, str],
    parts: pd.DataFrame,
    curves: pd.DataFrame,
) -> None:
    plan = session.plan
    write_json(
        session.directory / SUMMARY_NAME,
        {
            "run_dir": str(run_dir.resolve()),
            "subsets": names,
            "seeds": seeds,
            "aliases": aliases,
            "pool": len(session.pool),
            "pretraining_pool": len(plan.pretrain),
            "heldout": len(plan.heldout),
            "clustering": plan.clustering,
            "leakage": leakage_report(plan.splits),
            "notes": plan.notes,
            "tasks": sorted({t.name for t in plan.tasks}),
            "budget": _budget_record(session),
            "floors": metric_floors(plan),
            "parts": parts.to_dict("records"),
            **_statistics(curves, names, aliases),
        },
    )


def evaluate(
    run_dir: str | Path,
    subsets: str | Iterable[str] = DEFAULT_SUBSETS,
    seeds: int | Iterable[int] = 3,
    config: EvaluationConfig | None = None,
    *,
    evaluation_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_part: Callable[[PartResult], None] | None = None,
) -> EvaluationResult:
    """Pretrain a fresh model on each subset and seed, probe its checkpoints, write the curves.

    See :mod:`biocoreset_viz.evaluation` for the subsets, budget, tasks, splits and files.

    Args:
        run_dir: a scored run directory (``biocoreset score``).
        subsets: names, a list or a comma-separated string.
        seeds: a count (``3`` = seeds 0, 1, 2) or a list of seeds.
        config: the settings (default :class:`EvaluationConfig`).
        evaluation_dir: where to write (default ``RUN_DIR/evaluation``).
        overwrite: discard an evaluation made with other settings.
        progress: progress bars.
        on_part: called with each part's result after it finishes.

    Returns:
        An :class:`EvaluationResult`; its curves are also in ``curves.parquet``.

    Raises:
        RunDirectoryError: not a scored run, or an evaluation with other settings.
        ConfigError: bad settings, subsets, seeds or tasks.
    """
    from biocoreset_viz.runs import ScoreTable

    config = config or EvaluationConfig()
    names = parse_subsets(subsets)
    seed_list = parse_seeds(seeds)
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    table = ScoreTable.load(run_dir, embeddings="diversity" in names)
    if not len(table):
        raise RunDirectoryError(f"{run_dir}: the run has no scores")
    pool = _pool_with_labels(run_dir, manifest, table)
    directory = Path(evaluation_dir) if evaluation_dir is not None else run_dir / EVALUATION_DIR

    run_identity = manifest.get("identity") or {"input": manifest.get("input")}
    identity = {"run": run_identity, "config": config.result_key()}
    _check_settings(directory, identity, overwrite)
    plan = prepare_evaluation(pool, config)
    _check_splits(directory, plan, overwrite)
    _record_settings(directory, identity, config, run_dir, plan)

    embeddings = None if table.embeddings is None else table.embeddings.astype(np.float32)
    draw_one = partial(
        draw_subset,
        scores=table.scores,
        pretrain=plan.pretrain,
        config=config,
        embeddings=embeddings,
        run_dir=run_dir,
        score_frame=table.frame,
    )
    draws = draw_subsets(names, seed_list, draw_one)
    aliases = {d.subset: d.alias_of for d in draws if d.alias_of}
    # equal steps: as many as the full pretraining pool needs for `epochs` passes
    full_lengths = pool.lengths[plan.pretrain]
    total_steps = config.steps or planned_steps(full_lengths, config) * config.epochs
    # equal tokens: by default what the full pretraining pool sees in `epochs` passes
    total_tokens = config.tokens or epoch_tokens(full_lengths, config) * config.epochs
    session = _Session(pool, plan, config, directory, total_steps, total_tokens, progress)
    _run_parts(draws, session, on_part)

    curves = collect_curves(directory)
    write_parquet(directory / CURVES_NAME, curves)
    parts = pd.DataFrame(finished_parts(directory))
    _write_summary(session, run_dir, names, seed_list, aliases, parts, curves)
    return EvaluationResult(directory, curves, parts, plan, aliases, names, _budget_record(session))


def demo_experiment(
    directory: str | Path,
    *,
    subsets: str | Iterable[str] = DEFAULT_SUBSETS,
    seeds: int | Iterable[int] = 3,
    config: EvaluationConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    on_part: Callable[[PartResult], None] | None = None,
) -> EvaluationResult:
    """The demo experiment: CCI and Top-I 10% coresets against random 10%, random 10x and
    the full pool, on the bundled RNA demo run, 3 seeds.

    Uses the precomputed demo run shipped with the package when there is one
    (:func:`biocoreset_viz.demo.demo_run_path`), else scores the demo set with
    the demo model into ``directory/run`` first (resumable). The evaluation goes
    to ``directory/evaluation``, so the shipped run is never written to.

    Args:
        directory: where to write.
        subsets, seeds, config, overwrite, progress, on_part: as :func:`evaluate`
            (default config: :meth:`EvaluationConfig.demo`).
    """
    from biocoreset_viz.demo import build_demo_run, demo_run_path

    directory = Path(directory)
    try:
        run_dir = demo_run_path()
    except RunDirectoryError:
        run_dir = directory / "run"
        build_demo_run(run_dir, progress=progress)
    return evaluate(
        run_dir,
        subsets,
        seeds,
        config or EvaluationConfig.demo(),
        evaluation_dir=directory / EVALUATION_DIR,
        overwrite=overwrite,
        progress=progress,
        on_part=on_part,
    )
