"""The bundled demo: the RNA demo set scored by the bundled demo RNA model.

Two ways to get it:

* :func:`demo_run_path` — a precomputed run shipped inside the package (made by
  ``data/scripts/make_demo_run.py`` with :func:`build_demo_run`); it opens at once
  but may be read-only.
* :func:`build_demo_run` — score the 4,223 RNAs end to end (fine-tune, Fisher,
  scores) into a run directory of your own, resumable, with progress bars; this is
  what ``biocoreset demo`` does.

The reports ``biocoreset demo`` prints are made here, as lines of text:
:func:`dataset_report` (the data), :func:`model_report` (the demo model's size and
held-out loss) and :func:`coreset_report` (a CCI coreset against a random one).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.runs import SELECTIONS_DIR, ScoreTable

if TYPE_CHECKING:  # torch is imported only when the demo is scored, not to open it
    from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig
    from biocoreset_viz.sequences import SequenceSet

DEMO_DATASET = "rna"
DEMO_MODEL = "demo-rna"
DEMO_RUN_FOLDER = "demo_run"


def demo_config(model: str = DEMO_MODEL) -> InfluenceConfig:
    """The demo's scoring settings: the published choices on a 10% Fisher subset.

    Sequences are cut to the length the demo model was trained on (128 residues
    for the bundled models), which also keeps the long ribosomal RNAs of the set
    quick to score on a laptop.
    """
    from biocoreset_viz.influence import InfluenceConfig
    from biocoreset_viz.models import checkpoint_metadata

    trained_length = checkpoint_metadata(model).get("recipe", {}).get("max_length")
    return InfluenceConfig(
        fisher_subset=0.1,
        seed=0,
        max_length=None if trained_length is None else int(trained_length),
    )


def demo_finetune() -> FinetuneSettings:
    """One epoch of MLM fine-tuning on the Fisher subset (design §2)."""
    from biocoreset_viz.influence import FinetuneSettings

    return FinetuneSettings(epochs=1)


def build_demo_run(
    run_dir: str | Path,
    *,
    dataset: str = DEMO_DATASET,
    model: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreTable:
    """Score a demo dataset with its demo model (or ``model``) into ``run_dir`` (resumable).

    The default, the RNA demo set with ``demo-rna``, is how the shipped demo run
    was made; ``dataset="antibody"`` scores the antibody germlines with the
    pretrained Sapiens heavy-chain model ``sapiens-vh``.
    """
    from biocoreset_viz.datasets import demo_info, load_demo
    from biocoreset_viz.influence import score_run

    model = model or demo_info(dataset).model
    return score_run(
        load_demo(dataset),
        model,
        run_dir,
        demo_config(model),
        finetune_settings=demo_finetune(),
        overwrite=overwrite,
        progress=progress,
    )


def demo_run_path() -> Path:
    """The precomputed demo run shipped with the package.

    Raises:
        RunDirectoryError: the package was installed without it.
    """
    path = Path(str(files("biocoreset_viz._bundled") / DEMO_RUN_FOLDER))
    if not ScoreTable.exists(path):
        raise RunDirectoryError(
            f"{path}: the precomputed demo run is missing from this installation; "
            "make one with `biocoreset demo --no-serve --out RUN_DIR`"
        )
    return path


def dataset_report(dataset: str, sequences: SequenceSet) -> list[str]:
    """A demo dataset's description, source, statistics and label columns."""
    from biocoreset_viz.datasets import demo_info

    info = demo_info(dataset)
    lines = [
        f"dataset            {info.name}: {info.description}",
        f"source             {info.source}",
        *sequences.stats().lines(),
    ]
    if sequences.labels is not None:
        lines.append(f"labels             {', '.join(sequences.labels.columns)}")
    return lines


def model_report(
    name: str, sequences: SequenceSet, dataset: str, *, sample_size: int, seed: int
) -> list[str]:
    """A demo model's size and its masked-LM loss on sequences it was not trained on.

    The sample is the model's own held-out sequences of ``dataset`` when it was
    trained on it, else any of its sequences; the loss is set against the unigram
    cross-entropy of the rest of the dataset on the same residues.
    """
    import numpy as np

    from biocoreset_viz.models import checkpoint_metadata, load_model, parameter_count
    from biocoreset_viz.train import mlm_loss, unigram_cross_entropy

    model, alphabet = load_model(name)
    metadata = checkpoint_metadata(name)
    recipe = metadata.get("recipe", {})
    trained_on = metadata.get("datasets", [])
    size = f"{parameter_count(model):,} parameters"
    if recipe:
        size += f", {recipe['num_layers']} layers x {recipe['embed_dim']} dims"
    if trained_on:
        origin = f"trained on demo {' + '.join(trained_on)}"
    else:  # a pretrained model shipped with its provenance (Sapiens)
        origin = f"pretrained, from {metadata.get('source', 'its own release')}"
    lines = [f"model              {name}: {size}, {origin}"]

    # the model's own held-out sequences, or any sequence of a dataset it never saw
    if dataset in trained_on:
        heldout_ids = set(metadata.get("heldout_ids", ()))
        pool = np.array([i for i, name in enumerate(sequences.ids) if name in heldout_ids])
    else:
        pool = np.arange(len(sequences))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pool, size=min(sample_size, len(pool)), replace=False))
    rest = np.setdiff1d(np.arange(len(sequences)), sample)
    max_length = recipe.get("max_length", 1022)
    loss = mlm_loss(model, alphabet, sequences.subset(sample), seed=seed, max_length=max_length)
    scored = [sequences.sequences[i][:max_length] for i in sample]  # what the model sees
    baseline = unigram_cross_entropy(sequences.subset(rest), scored)
    lines.append(
        f"masked-LM loss     {loss:.3f} nats on {len(sample)} sequences it was not trained on "
        f"(first {max_length} residues; unigram baseline {baseline:.3f})"
    )
    return lines


def coreset_report(run_dir: str | Path, table: ScoreTable) -> list[str]:
    """Select a CCI coreset (alpha 0.9, beta 0.1, k 50) and a random one of the same
    size in ``run_dir``, and report the scores and the label coverage of both."""
    import numpy as np

    from biocoreset_viz.coverage import label_coverage
    from biocoreset_viz.selection import select_from_run

    scores = table.scores
    lines = [
        f"self-influence     min {scores.min():.3g}, median {np.median(scores):.3g}, "
        f"max {scores.max():.3g} over {len(table):,} sequences"
    ]
    settings = {"pruning_rate": 0.9, "random_state": 0}
    cci = select_from_run(run_dir, "cci", hard_cutoff=0.1, n_strata=50, **settings)
    random = select_from_run(run_dir, "random", **settings)
    lines.append(
        f"coreset            CCI, alpha 0.9, beta 0.1, k 50: {len(cci.indices):,} of "
        f"{len(table):,} sequences"
    )
    for column in ("family", "cluster"):
        if column in table.frame.columns:
            labels = table.frame[column].to_numpy()
            kept = label_coverage(labels, cci.indices).fraction
            baseline = label_coverage(labels, random.indices).fraction
            lines.append(
                f"{column + ' coverage':<19}CCI {kept:.1%} vs random {baseline:.1%} of the same size"
            )
    lines.append(
        f"saved              {run_dir}/{SELECTIONS_DIR}/{cci.name}.json and {random.name}.json"
    )
    return lines
