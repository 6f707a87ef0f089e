"""The bundled demo: the RNA demo set scored by the bundled demo RNA model.

Two ways to get it:

* :func:`demo_run_path` — a precomputed run shipped inside the package (made by
  ``data/scripts/make_demo_run.py`` with :func:`build_demo_run`); it opens at once
  but may be read-only.
* :func:`build_demo_run` — score the 4,223 RNAs end to end (fine-tune, Fisher,
  scores) into a run directory of your own, resumable, with progress bars; this is
  what ``biocoreset demo`` does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.runs import ScoreTable

if TYPE_CHECKING:  # torch is imported only when the demo is scored, not to open it
    from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig

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
    overwrite: bool = False,
    progress: bool = True,
) -> ScoreTable:
    """Score a demo dataset with its demo model into ``run_dir`` (resumable).

    The default, the RNA demo set with ``demo-rna``, is how the shipped demo run
    was made.
    """
    from biocoreset_viz.datasets import demo_info, load_demo
    from biocoreset_viz.influence import score_run

    model = demo_info(dataset).model
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
