"""Run directories for the dashboard's tests: scores, embeddings, labels, an input FASTA.

Sequence 3's id (:data:`XSS_ID`) is a script tag and family 0's name
(:data:`XSS_FAMILY`) an image tag, so the tests can prove they are shown as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biocoreset_viz.projection import ProjectionSettings, write_projection
from biocoreset_viz.runs import ScoreTable

XSS_ID = "<script>window.__xss=1</script>"
XSS_FAMILY = "<img src=x onerror=window.__xss=2>"
# an id far longer than the table's id column (sequence 0 of the unlabelled run)
LONG_ID = "NR_" + "0123456789" * 14 + "_long_accession"


def score_frame(ids: list[str], lengths: Any, loss: Any, scores: Any) -> pd.DataFrame:
    """A score table's own columns: ``index``, ``id``, ``length``, ``truncated``, ``loss``,
    ``self_influence`` (no label columns yet)."""
    frame = pd.DataFrame({"index": np.arange(len(ids), dtype=np.int64), "id": ids})
    frame["length"] = lengths
    frame["truncated"] = np.zeros(len(ids), dtype=bool)
    frame["loss"] = loss
    frame["self_influence"] = scores
    return frame


def write_run(
    folder: Path,
    n: int = 400,
    *,
    dim: int = 8,
    seed: int = 0,
    projection: bool = False,
    curves: bool = False,
) -> Path:
    """A run of ``n`` RNAs in 8 families, with its input FASTA, embeddings and labels.

    Sequence 3's id is a script tag and family 0's name an image tag, to prove
    that they are shown as text. ``projection`` caches a UMAP-keyed map (so no
    UMAP is computed); ``curves`` adds downstream learning curves.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"rna{i:04d}" for i in range(n)]
    ids[3] = XSS_ID
    sequences = ["".join(rng.choice(list("ACGU"), rng.integers(20, 60))) for _ in range(n)]
    fasta = folder / "input.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, sequences, strict=True)))
    family = rng.integers(0, 8, n)
    centres = rng.normal(scale=4.0, size=(8, dim))
    embeddings = (centres[family] + rng.normal(size=(n, dim))).astype(np.float16)
    frame = score_frame(ids, [len(s) for s in sequences], rng.random(n), rng.lognormal(size=n))
    frame["family"] = [XSS_FAMILY if f == 0 else f"RF{f:05d}" for f in family]
    frame["cluster"] = [f"c{f * 2 + rng.integers(2)}" for f in family]
    manifest = {"model": "test-model", "molecule": "rna", "input": {"path": str(fasta)}}
    run_dir = ScoreTable(frame, embeddings, manifest).save(folder / "run")
    if projection:
        coordinates = embeddings[:, :2].astype(np.float32)
        write_projection(
            run_dir,
            pd.DataFrame({"index": frame["index"], "x": coordinates[:, 0], "y": coordinates[:, 1]}),
            ProjectionSettings(),
        )
    if curves:
        rows = [
            {
                "subset": s,
                "seed": seed_,
                "step": step,
                "tokens_seen": step * 100,
                "task": "ss",
                "metric": "f1",
                "value": 0.1 * step + 0.01 * seed_,
            }
            for s in ("cci", "random")
            for seed_ in (0, 1)
            for step in (1, 2, 3)
        ]
        (run_dir / "evaluation").mkdir()
        pd.DataFrame(rows).to_parquet(run_dir / "evaluation" / "curves.parquet")
    return run_dir


# label columns of generated runs: none, some, all (with one that groups nothing)
LABEL_SETS = {
    "none": (),
    "family": ("family",),
    "all": ("family", "cluster", "species", "structure"),
}
# score shapes of generated runs
SCORE_KINDS = ("lognormal", "equal", "extreme", "signed extreme", "tiny")


def scores_of(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Self-influence of ``n`` sequences: typical, all equal, or extreme but finite."""
    if kind == "equal":
        return np.full(n, 3.5)
    if kind == "extreme":  # positive, spanning 600 orders of magnitude
        return rng.permutation(np.geomspace(1e-300, 1e300, n))
    if kind == "signed extreme":  # near both ends of float64
        return rng.uniform(-1.0, 1.0, n) * 1.7e308
    if kind == "tiny":
        return rng.random(n) * 1e-305
    return rng.lognormal(size=n)


def generated_table(
    n: int,
    *,
    labels: str = "none",
    scores: str = "lognormal",
    embeddings: bool = True,
    seed: int = 0,
) -> ScoreTable:
    """A run's score table as a user's own data may be: any labels, scores, with or without
    embeddings (a selection-only Parquet run has none)."""
    rng = np.random.default_rng(seed)
    columns = LABEL_SETS[labels]
    lengths, loss = rng.integers(8, 400, n), rng.random(n)
    frame = score_frame([f"seq{i}" for i in range(n)], lengths, loss, scores_of(scores, n, rng))
    values = {
        "family": lambda: [f"RF{rng.integers(3):05d}" for _ in range(n)],
        "cluster": lambda: [None if i % 5 == 0 else f"c{i % 4}" for i in range(n)],
        "species": lambda: [f"species {i}" for i in range(n)],  # unique: groups nothing
        "structure": lambda: ["((..))"] * n,
    }
    for column in columns:
        frame[column] = values[column]()
    matrix = rng.normal(size=(n, 6)).astype(np.float16) if embeddings else None
    return ScoreTable(frame, matrix, {"model": "generated", "molecule": "rna"})


def write_unlabelled_run(folder: Path, n: int = 300, *, seed: int = 0) -> Path:
    """A run of ``n`` RNAs from a plain FASTA (no label columns), as a new user's would be,
    with its input FASTA and a cached UMAP-keyed map; sequence 0's id is :data:`LONG_ID`."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    table = generated_table(n, labels="none", seed=seed)
    table.frame.loc[0, "id"] = LONG_ID
    sequences = ["".join(rng.choice(list("ACGU"), int(length))) for length in table.frame["length"]]
    fasta = folder / "plain.fasta"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s in zip(table.ids, sequences, strict=True)))
    table.manifest["input"] = {"path": str(fasta)}
    run_dir = table.save(folder / "run")
    coordinates = table.embeddings[:, :2].astype(np.float32)
    write_projection(
        run_dir,
        pd.DataFrame(
            {"index": table.frame["index"], "x": coordinates[:, 0], "y": coordinates[:, 1]}
        ),
        ProjectionSettings(),
    )
    return run_dir


def ask_for_run(monkeypatch, run: str | None) -> None:
    """Make the served sessions ask for ``?run=RUN`` (``None``: no query)."""
    import panel as pn

    arguments = {} if run is None else {"run": [run.encode()]}
    monkeypatch.setattr(type(pn.state), "session_args", property(lambda self: arguments))
