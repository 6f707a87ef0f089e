"""Downstream evaluation: does a coreset pretrain as well as random subsets ten times larger?

:func:`evaluate` takes a scored run directory and, for every requested subset of
its pool and every seed, pretrains a fresh small ESM-2 from scratch by masked
language modelling under the same budget, evaluates the model before training
and at evenly spaced checkpoints with frozen-embedding probes
(:mod:`biocoreset_viz.evaluation.probes`), and writes the learning curves to
``RUN_DIR/evaluation/curves.parquet``: one row per ``subset``, ``seed``,
``step``, ``tokens_seen``, ``task``, ``metric`` and ``value``.

**Subsets** (``subsets=``): ``cci`` (Coverage-Centric Influence), ``topi``
(Top-k Influence), ``bottomi``, ``diversity``, ``random`` (same size as the
coreset), ``random<K>x`` (``K`` times the coreset, e.g. ``random10x``; capped at
the pool), ``full`` (the whole pretraining pool), ``<method>-<score>`` (CCI,
Top-I or bottom-I ranking by another score variant of
:mod:`biocoreset_viz.score_variants`, e.g. ``cci-length_adjusted``), or the
name of a selection saved in ``RUN_DIR/selections/``. The coreset size is ``round((1 - pruning_rate)
* N)`` of the pretraining pool. CCI and the random subsets are drawn anew for
every seed (their randomness is part of the spread); a model's initial weights,
masks and batch order come from the seed too, so subsets that share a seed start
from the same weights. A subset that equals an earlier one (``random10x`` is the
full pool whenever ten times the coreset reaches the pool size) is not trained
twice: its curves are copied and the alias is recorded in ``summary.json``.

**Budget** (recorded in every curve row's ``budget`` column and in
``summary.json``): ``"epochs"`` (as the paper: every subset is trained for the
same number of passes, so a 10% coreset gets a tenth of the steps of the full
pool), ``"steps"`` (every subset gets the same number of optimiser steps; by
default as many as the full pool needs for ``epochs`` passes) or ``"tokens"``
(every subset is trained on the same number of tokens, to within one batch; by
default what the full pool sees in ``epochs`` passes). When a score prefers
short sequences (self-influence does), equal epochs give its coreset fewer
tokens than random; equal tokens compare the data at equal compute.

**Pairing.** A model's initial weights, and the generators of its masks, batch
order and crops, come from the seed alone, so the parts of one seed differ only
in their data (each part's ``result.json`` records the fingerprint of its
initial weights, equal across a seed). :mod:`~biocoreset_viz.evaluation.comparisons`
compares subsets seed by seed: the paired difference of every task's main metric
against random of the same size, the larger random subsets and the full pool,
its mean, a 95% paired t interval and a verdict (better / worse / no detectable
difference; ``n = 1, no spread`` for one seed), written to ``summary.json`` as
``comparisons`` (final values) and ``area_comparisons`` (areas under the
curves). :mod:`~biocoreset_viz.evaluation.curve_summary` adds the area under
each learning curve and the tokens it needs to reach random's final value.

**Tasks** (``tasks="auto"`` picks those the data allows):

* ``mlm`` (every molecule): masked-LM loss (nats) and perplexity on held-out
  pool sequences, on fixed masks; ``summary.json`` records the unigram floor
  (``floors``): a model at it learned the pool's composition and no context.
* ``structure`` (RNA): base pairs from embeddings and attention maps (F1 and
  top-L precision), and ``contact_precision``: a contact probe on the attention
  maps of every layer and head alone, top-L precision at separation >= 6, as
  ESM and RNA-FM evaluate contacts. Labels are real dot-brackets: the squarna set (default), the
  bpRNA-derived set (its file given as ``bprna``), the pool's own ``structure``
  column or a CSV file. Missing structures are folded with ViennaRNA only when
  ``predict_missing_structures`` is set, and those are scored separately as task
  ``structure_predicted``.
* ``family`` (RNA with a ``family`` label, e.g. Rfam in the demo): linear probe
  on mean-pooled embeddings; accuracy and macro-F1.
* ``blade`` (protein): which of the four blades of a four-bladed hemopexin-like
  domain a repeat is (real positions from the family's Pfam-style coordinates;
  the demo ``hemopexin`` set, needs pyfamsa); accuracy and macro-F1. Chosen
  over family membership against the bacterial proteome, which amino-acid
  composition alone gets 94% right on length-matched windows; composition and
  length give 79% on blades, so the probe has room to show learned context.

**No leakage.** Every sequence of the pool and of the task sets gets a joint
cluster (:mod:`~biocoreset_viz.evaluation.splits`: exact copies, the pool's own
``cluster`` labels and 80%-identity clusters over all sets together, by MMseqs2 or
a k-mer estimate). The held-out pool side (MLM and family test sequences) is a set of
whole clusters; a structure or blade test sequence never shares a cluster with
its probe's training side; and any pool sequence that shares a cluster with any
test sequence is removed from the pretraining pool, so no pretrained model has
seen a relative of a test sequence. ``splits.parquet`` records every role.

**Resumable** per ``(subset, seed)``: each finishes in
``evaluation/parts/<subset>/seed-<seed>/`` (curves, training log, checkpoints,
the subset's selection) with ``result.json`` written last; a finished part is
never recomputed, an interrupted one is deleted and restarted. Every file is
written atomically. The evaluation settings are recorded in ``config.json``; a
later call with other settings is refused unless ``overwrite=True``.

**Modules**, one job each: :mod:`~biocoreset_viz.evaluation.config` (settings,
subset and seed names), :mod:`~biocoreset_viz.evaluation.task_data` (structure
tables, hemopexin blades), :mod:`~biocoreset_viz.evaluation.tasks` (the tasks),
:mod:`~biocoreset_viz.evaluation.probes` (frozen-embedding probes),
:mod:`~biocoreset_viz.evaluation.splits` (joint clusters, leakage check),
:mod:`~biocoreset_viz.evaluation.plan` (splits and tasks of one evaluation),
:mod:`~biocoreset_viz.evaluation.subsets` (what each subset pretrains on),
:mod:`~biocoreset_viz.evaluation.curves` (the curves file, torch-free),
:mod:`~biocoreset_viz.evaluation.results` (results tables),
:mod:`~biocoreset_viz.evaluation.comparisons` (paired comparisons),
:mod:`~biocoreset_viz.evaluation.curve_summary` (areas, tokens to target),
:mod:`~biocoreset_viz.evaluation.parts` (the evaluation directory) and
:mod:`~biocoreset_viz.evaluation.runner` (:func:`evaluate`). The names below are
imported lazily, so ``import biocoreset_viz.evaluation.curves`` loads no torch.
"""

from __future__ import annotations

from biocoreset_viz.lazy import lazy_exports

# public name -> the submodule that defines it
_EXPORTS = {
    "BUDGETS": "config",
    "DEFAULT_SUBSETS": "config",
    "RANDOM_MULTIPLE": "config",
    "STRUCTURE_SOURCES": "config",
    "TASKS": "config",
    "EvaluationConfig": "config",
    "parse_seeds": "config",
    "parse_subsets": "config",
    "bprna_path": "task_data",
    "fold_structures": "task_data",
    "hemopexin_blades": "task_data",
    "load_structure_table": "task_data",
    "structure_records": "task_data",
    "ClassificationTask": "tasks",
    "MaskedLMTask": "tasks",
    "StructureRecord": "tasks",
    "StructureTask": "tasks",
    "Task": "tasks",
    "DEFAULT_MIN_SEPARATION": "probes",
    "SequenceFeatures": "probes",
    "StructureExample": "probes",
    "StructureProbe": "probes",
    "base_pair_f1": "probes",
    "base_pair_metrics": "probes",
    "candidate_pairs": "probes",
    "classification_probe": "probes",
    "dot_bracket_from_pairs": "probes",
    "embed_sequences": "probes",
    "greedy_decode": "probes",
    "parse_dot_bracket": "probes",
    "structure_example": "probes",
    "symmetrized_apc": "probes",
    "top_k_precision": "probes",
    "group_split": "splits",
    "identity_clusters": "splits",
    "join_labelings": "splits",
    "kmer_clusters": "splits",
    "leakage_report": "splits",
    "mmseqs_available": "splits",
    "EvaluationPlan": "plan",
    "prepare_evaluation": "plan",
    "SELECTOR_SUBSETS": "subsets",
    "SubsetDraw": "subsets",
    "draw_subset": "subsets",
    "draw_subsets": "subsets",
    "planned_steps": "subsets",
    "epoch_tokens": "subsets",
    "MAIN_METRICS": "comparisons",
    "COMPARISON_COLUMNS": "comparisons",
    "compare_final": "comparisons",
    "compare_subsets": "comparisons",
    "default_baselines": "comparisons",
    "format_comparisons": "comparisons",
    "paired_interval": "comparisons",
    "verdict": "comparisons",
    "curve_area": "curve_summary",
    "curve_metrics": "curve_summary",
    "summarize_curve_metrics": "curve_summary",
    "tokens_to_reach": "curve_summary",
    "CURVE_COLUMNS": "curves",
    "curves_frame": "curves",
    "find_curves": "curves",
    "load_curves": "curves",
    "summarize_curves": "curves",
    "LOWER_IS_BETTER": "results",
    "UNTRAINED": "results",
    "final_metrics": "results",
    "final_values": "results",
    "format_table": "results",
    "results_table": "results",
    "versus_baseline": "results",
    "part_done": "parts",
    "EvaluationResult": "runner",
    "demo_experiment": "runner",
    "evaluate": "runner",
    "metric_floors": "runner",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, {k: f".{m}" for k, m in _EXPORTS.items()})
