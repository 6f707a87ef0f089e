"""biocoreset_viz: influence-guided data pruning of RNA and protein sequence datasets.

Score every sequence's self-influence with a protein/RNA language model, select a
coreset (Top-k Influence, Coverage-Centric Influence, baselines), look at what was
kept and pruned, and test the coreset downstream.

The public names below are imported lazily, so ``import biocoreset_viz`` stays
fast and does not load torch until a model is needed.
"""

from __future__ import annotations

from biocoreset_viz.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "BiocoresetError": "errors",
    "InputError": "errors",
    "ModelNotFoundError": "errors",
    "RunDirectoryError": "errors",
    "SequenceRecord": "sequences",
    "SequenceSet": "sequences",
    "detect_molecule": "sequences",
    "iter_sequences": "sequences",
    "read_sequences": "sequences",
    "ScoreTable": "runs",
    "InfluenceConfig": "influence",
    "FinetuneSettings": "influence",
    "DiagonalFisher": "influence",
    "finetune": "influence",
    "fit_fisher": "influence",
    "score": "influence",
    "score_run": "influence",
    "resolve_targets": "influence",
    "build_demo_run": "demo",
    "demo_run_path": "demo",
    "score_with_ray": "distributed",
    "RayOptions": "distributed",
    "RayNotInstalledError": "distributed",
    "project_umap": "projection",
    "project_pca": "projection",
    "influence_histogram": "plots",
    "histogram_counts": "plots",
    "selection_map": "plots",
    "map_frame": "plots",
    "stratum_coverage_plot": "plots",
    "redundancy_plot": "plots",
    "neighbour_distance_plot": "plots",
    "learning_curves": "plots",
    "TopInfluence": "selection",
    "BottomInfluence": "selection",
    "CoverageCentric": "selection",
    "RandomSelection": "selection",
    "EmbeddingDiversity": "selection",
    "IdentityClustering": "selection",
    "Selection": "selection",
    "allocate_budgets": "selection",
    "stratify": "selection",
    "stratum_coverage": "coverage",
    "embedding_coverage": "coverage",
    "label_coverage": "coverage",
    "compare_selections": "coverage",
    "encode_batch": "models",
    "token_budget_batches": "models",
    "load_model": "models",
    "save_model": "models",
    "build_esm2": "models",
    "build_esm1b": "models",
    "known_models": "models",
    "load_demo": "datasets",
    "available_demos": "datasets",
    "train_heldout_split": "datasets",
    "train_mlm": "train",
    "mlm_loss": "train",
    "unigram_cross_entropy": "train",
    "evaluate": "evaluation.runner",
    "EvaluationConfig": "evaluation.config",
    "demo_experiment": "evaluation.runner",
    "load_curves": "evaluation.curves",
    "summarize_curves": "evaluation.curves",
    "results_table": "evaluation.results",
    "StructureProbe": "evaluation.probes",
    "parse_dot_bracket": "evaluation.probes",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__ = lazy_exports(__name__, {k: f".{m}" for k, m in _EXPORTS.items()})[0]


def __dir__() -> list[str]:
    return sorted(__all__)
