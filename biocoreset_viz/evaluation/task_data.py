"""The labelled sets the probes read: RNA structure tables and hemopexin blades.

RNA structures come from the bundled squarna set, the bpRNA-derived set (a file
whose path is given explicitly), the run's own ``structure`` column or a CSV
file; missing ones can be folded by ViennaRNA. Protein blades come from the demo
``hemopexin`` set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.evaluation.config import STRUCTURE_SOURCES, EvaluationConfig
from biocoreset_viz.evaluation.probes import parse_dot_bracket
from biocoreset_viz.sequences import SequenceSet

# the variable that names the bpRNA-derived file when no path is given
BPRNA_VARIABLE = "BIOCORESET_BPRNA"


def fold_structures(sequences: Sequence[str]) -> list[str]:
    """ViennaRNA minimum-free-energy structures (dot-brackets) of RNA sequences."""
    import RNA

    return [RNA.fold(sequence.replace("T", "U"))[0] for sequence in sequences]


def bprna_path(path: str | Path | None = None) -> Path:
    """The bpRNA-derived structure set's file: ``path``, else ``$BIOCORESET_BPRNA``.

    Nothing is searched for: the file is where the caller says it is
    (:attr:`EvaluationConfig.bprna <biocoreset_viz.evaluation.config.EvaluationConfig.bprna>`,
    ``biocoreset evaluate --bprna PATH``).

    Raises:
        ConfigError: no path given and the variable is not set.
        InputError: the file does not exist.
    """
    if path is None:
        path = os.environ.get(BPRNA_VARIABLE) or None
    if path is None:
        raise ConfigError(
            "structure_source 'bprna' needs the path of bprna.csv.gz: pass bprna=PATH "
            f"(biocoreset evaluate --bprna PATH) or set {BPRNA_VARIABLE}"
        )
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "no such file: the bpRNA-derived structure set (bprna.csv.gz) of "
            "structure_source 'bprna'",
            path=path,
        )
    return path


def _squarna_table() -> pd.DataFrame:
    from biocoreset_viz.datasets import load_demo

    data = load_demo("rna_structures")
    return pd.DataFrame(
        {
            "id": data.ids,
            "sequence": data.sequences,
            "structure": data.labels["structure"],
            "split": data.labels["split"],
        }
    )


def _pool_table(pool: SequenceSet | None) -> pd.DataFrame:
    if pool is None or pool.labels is None or "structure" not in pool.labels:
        raise ConfigError("structure_source 'pool': the run's sequences have no structure column")
    return pd.DataFrame(
        {
            "id": pool.ids,
            "sequence": pool.sequences,
            "structure": pool.labels["structure"].to_numpy(),
            "split": None,
        }
    )


def _csv_table(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read the structure table ({error})", path=path) from error
    missing = [c for c in ("sequence", "structure") if c not in frame]
    if missing:
        raise InputError(f"the structure table lacks columns {missing}", path=path)
    if "id" not in frame:
        frame["id"] = [f"structure{i}" for i in range(len(frame))]
    if "split" not in frame:
        frame["split"] = None
    frame["structure"] = frame["structure"].mask(frame["structure"].str.strip() == "")
    return frame[["id", "sequence", "structure", "split"]]


def load_structure_table(
    source: str, pool: SequenceSet | None = None, *, bprna: str | Path | None = None
) -> pd.DataFrame:
    """The structure set named by ``source`` as a table.

    Args:
        source: ``squarna``, ``bprna``, ``pool`` or the path of a CSV file.
        pool: the run's sequences (for ``pool``).
        bprna: the bpRNA-derived file (for ``bprna``; see :func:`bprna_path`).

    Returns:
        ``id``, ``sequence`` (uppercase, U), ``structure`` (missing where unknown)
        and ``split`` (``train``/``test``, or missing when the source has none).

    Raises:
        ConfigError: unknown source, absent file, or a table without the columns.
    """
    if source == "squarna":
        frame = _squarna_table()
    elif source == "pool":
        frame = _pool_table(pool)
    elif source == "bprna":
        frame = _csv_table(bprna_path(bprna))
    else:
        if not Path(source).is_file():
            raise ConfigError(
                f"structure_source must be {', '.join(STRUCTURE_SOURCES)} or an existing CSV "
                f"file, got {source!r}"
            )
        frame = _csv_table(Path(source))
    frame = frame.reset_index(drop=True)
    frame["sequence"] = frame["sequence"].str.upper().str.replace("T", "U")
    split = frame["split"].astype(object)
    frame["split"] = split.where(split.isin(["train", "test"]), None)
    return frame


def structure_records(
    frame: pd.DataFrame, config: EvaluationConfig, notes: list[str]
) -> pd.DataFrame:
    """Rows of a structure table usable by the structure probe, with parsed ``pairs`` and
    their ``origin`` (``reference`` or ``predicted`` by ViennaRNA); what was left out
    and why is appended to ``notes``."""
    frame = frame.copy()
    frame["origin"] = np.where(frame["structure"].notna(), "reference", "predicted")
    too_long = frame["sequence"].str.len() > config.structure_max_length
    if too_long.any():
        notes.append(
            f"structure: {int(too_long.sum())} RNAs longer than "
            f"{config.structure_max_length} nt not used"
        )
    frame = frame[~too_long]
    missing = frame["structure"].isna()
    if missing.any() and config.predict_missing_structures:
        frame.loc[missing, "structure"] = fold_structures(frame.loc[missing, "sequence"].tolist())
        notes.append(f"structure: {int(missing.sum())} missing structures folded by ViennaRNA")
    elif missing.any():
        frame = frame[~missing]
    pairs, keep = [], []
    for sequence, structure in zip(frame["sequence"], frame["structure"], strict=True):
        try:
            parsed = parse_dot_bracket(structure)
            ok = len(structure) == len(sequence)
        except ValueError:
            parsed, ok = None, False
        pairs.append(parsed)
        keep.append(ok)
    frame["pairs"] = pairs
    bad = len(keep) - sum(keep)
    if bad:
        notes.append(f"structure: {bad} structures unreadable or of the wrong length, not used")
    return frame[np.array(keep, dtype=bool)].reset_index(drop=True)


def hemopexin_blades() -> pd.DataFrame:
    """Repeats of four-bladed hemopexin-like domains, labelled by blade (1-4, N- to C-terminal).

    From the demo ``hemopexin`` set: proteins with exactly four repeats, each
    repeat's blade given by the order of its start coordinate in the protein.

    Returns:
        ``id``, ``sequence``, ``protein``, ``label`` (``blade1`` ... ``blade4``).
    """
    from biocoreset_viz.datasets import load_demo

    data = load_demo("hemopexin")
    coordinates = pd.Series(data.ids).str.extract(r"/(\d+)-(\d+)$")
    frame = pd.DataFrame(
        {
            "id": data.ids,
            "sequence": data.sequences,
            "protein": data.labels["protein"].to_numpy(),
            "start": pd.to_numeric(coordinates[0]),
        }
    ).dropna(subset=["start"])
    counts = frame.groupby("protein")["start"].transform("size")
    frame = frame[counts == 4].copy()
    frame["label"] = "blade" + frame.groupby("protein")["start"].rank(method="first").astype(
        int
    ).astype(str)
    return frame[["id", "sequence", "protein", "label"]].reset_index(drop=True)
