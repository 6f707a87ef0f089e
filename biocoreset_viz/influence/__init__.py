"""Self-influence under a diagonal Fisher (design §2), with embeddings, in one pass.

For a sequence x_i with per-sequence loss l(x_i) and target parameters theta_T:

* per-sample gradient   g_i = d l(x_i) / d theta_T
* subset Fisher         F   = (1/M) sum_{m in S} g_m * g_m     (diagonal, S random, |S| = M)
* self-influence        s_i = sum_j g_ij^2 / (F_j + lambda)    (>= 0, larger = more influential)

The published code stores the influence with the opposite sign (its score is
``-s_i``, an influence-function "self-influence" that is more negative for more
influential samples): ``s_ours = -s_published``, and ranking by ``s_ours``
descending equals ranking the published score ascending.

Stages are verbs: :func:`finetune` (optional MLM fine-tune on S), :func:`fit_fisher`
and :func:`score`; :func:`score_run` chains them with a resumable run directory.
Every check is made once, up front, into a :class:`ScoringPlan`
(:func:`plan_scoring`), which the local engine (:func:`score_locally`) and the Ray
engine (:mod:`biocoreset_viz.distributed`) both run. Per-sample gradients never
loop over samples in Python: the default target ``lm_head.dense.weight`` uses the
closed form ``G_i = delta_i^T h_i`` (delta the gradient at the dense layer's
output, h its input); any other target uses ``torch.func.vmap(grad(...))`` over a
forward without data-dependent branches.

One job per module: ``config`` (ScoreSettings, RuntimeOptions, InfluenceConfig,
FinetuneSettings), ``targets``, ``losses``, ``encoder``, ``gradients``,
``reference`` (the brute force), ``fisher``, ``identity`` (fingerprints), ``plan``,
``batches``, ``memory``, ``scoring`` (a shard, the local engine), ``manifest``,
``pipeline`` (fine-tune, Fisher stage, score_run). The names below are imported
lazily, so reading the settings does not load torch.
"""

from __future__ import annotations

from biocoreset_viz.lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "DTYPE_NAMES": "config",
    "FinetuneSettings": "config",
    "InfluenceConfig": "config",
    "RuntimeOptions": "config",
    "ScoreSettings": "config",
    "CLOSED_FORM_TARGETS": "targets",
    "TARGET_PRESETS": "targets",
    "check_precision": "targets",
    "resolve_targets": "targets",
    "LossBatch": "losses",
    "make_loss_batch": "losses",
    "mlm_mask_draws": "losses",
    "weighted_cross_entropy": "losses",
    "ForwardOptions": "encoder",
    "encode": "encoder",
    "PerSampleResult": "gradients",
    "per_sample_gradients": "gradients",
    "brute_force_gradients": "reference",
    "brute_force_self_influence": "reference",
    "DiagonalFisher": "fisher",
    "accumulate_fisher": "fisher",
    "fisher_subset_indices": "fisher",
    "fit_fisher": "fisher",
    "InputDigest": "identity",
    "input_fingerprint": "identity",
    "model_fingerprint": "identity",
    "DEFAULT_MAX_RESIDUES": "plan",
    "DTYPES": "plan",
    "ScoringPlan": "plan",
    "ScoringPool": "plan",
    "SequencePool": "plan",
    "check_molecule": "plan",
    "effective_max_length": "plan",
    "model_alphabet": "plan",
    "plan_scoring": "plan",
    "prepare_model": "plan",
    "resolve_device": "plan",
    "per_sample_batches": "batches",
    "plan_batches": "batches",
    "prefetch": "batches",
    "RELEASE_EVERY_TOKENS": "memory",
    "FreedMemoryReleaser": "memory",
    "release_freed_memory": "memory",
    "score": "scoring",
    "score_locally": "scoring",
    "score_shard": "scoring",
    "complete_score_manifest": "manifest",
    "ensure_writable": "manifest",
    "start_score_manifest": "manifest",
    "FisherStage": "pipeline",
    "finetune": "pipeline",
    "fisher_stage": "pipeline",
    "load_scoring_model": "pipeline",
    "score_run": "pipeline",
}
# Run-directory names, defined in biocoreset_viz.runs and importable from here as before.
_RUN_NAMES = ("FINETUNED_NAME", "FISHER_NAME", "FISHER_SUBSET_NAME")

__all__ = sorted([*_EXPORTS, *_RUN_NAMES])


__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **{k: f".{m}" for k, m in _EXPORTS.items()},
        **dict.fromkeys(_RUN_NAMES, "biocoreset_viz.runs"),
    },
)
