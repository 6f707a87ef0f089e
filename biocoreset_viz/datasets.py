"""Real demo datasets, available offline.

=================  ========  =====  =============================================  ==================
name               molecule  count  labels                                         from
=================  ========  =====  =============================================  ==================
``rna``            rna       4,223  ``family`` (Rfam or ``unknown``), ``cluster``  rnaglib 3.4.11
                                    (80% identity), ``structure`` (247 known)
``rna_structures`` rna       485    ``structure`` (dot-bracket), ``split``         squarna 3.2.2
``proteome``       protein   2,100  ``contig``, ``start``, ``end``, ``strand``     pyhmmer 0.12.3
``hemopexin``      protein   4,188  ``protein``, ``species``                       pyfamsa 0.7.0
``antibody``       protein   1,664  ``gene``, ``allele``, ``chain`` (heavy, kappa,  anarci 2026.2.13.2
                                    lambda), ``species`` (8)
=================  ========  =====  =============================================  ==================

All but the hemopexin family are vendored in the package as small gzipped tables
(see ``data/README.md`` for provenance and how they were derived). The hemopexin
family is GPL-licensed, so it is read from the installed ``pyfamsa`` package at run
time. ``antibody`` holds the IMGT germline immunoglobulin V genes of eight species
(human, mouse, rat, rabbit, rhesus, pig, alpaca, cow); its matching model is the
bundled Sapiens heavy-chain model ``sapiens-vh``, a real pretrained model trained on
human heavy chains (``biocoreset demo --dataset antibody`` scores it; the light chains
and the other species are out of its training distribution).

Labels are strings or integers; an unknown structure is missing (``pd.isna``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from biocoreset_viz.errors import BiocoresetError, ConfigError
from biocoreset_viz.sequences import Molecule, SequenceSet, read_sequences

BUNDLED_PACKAGE = "biocoreset_viz._bundled"


@dataclass(frozen=True)
class DemoDataset:
    """What a demo dataset is and where it comes from.

    Attributes:
        name: the name ``load_demo`` takes.
        molecule: ``"rna"`` or ``"protein"``.
        description: one line for listings.
        model: the bundled demo model that matches it (see ``load_model``).
        source: the package, version and file the sequences come from.
        bundled_file: the vendored table in the package, or ``None`` when the data is
            read from an installed package at run time.
        other_models: other bundled models made for this kind of data (``biocoreset
            demo --model`` picks this dataset for them).
    """

    name: str
    molecule: Molecule
    description: str
    model: str
    source: str
    bundled_file: str | None = None
    other_models: tuple[str, ...] = ()


DEMO_DATASETS: dict[str, DemoDataset] = {
    dataset.name: dataset
    for dataset in (
        DemoDataset(
            "rna",
            "rna",
            "4,223 unique PDB RNAs with Rfam family, 80%-identity cluster and, for 247, "
            "a dot-bracket structure",
            "demo-rna",
            "rnaglib 3.4.11 rnaglib/tasks/data/gRNAde_metadata.csv (MIT); structures from "
            "squarna 3.2.2 (Apache-2.0)",
            "rna_demo.csv.gz",
        ),
        DemoDataset(
            "rna_structures",
            "rna",
            "485 PDB-derived RNAs (8-150 nt) with dot-bracket structures, split train/test",
            "demo-rna",
            "squarna 3.2.2 SQUARNA/datasets/SRtrain150.fas + SRtest150.fas (Apache-2.0)",
            "rna_structures_demo.csv.gz",
        ),
        DemoDataset(
            "proteome",
            "protein",
            "a whole bacterial proteome: 2,100 proteins (2,095 unique) on 8 contigs",
            "demo-protein",
            "pyhmmer 0.12.3 pyhmmer/tests/data/seqs/938293.PRJEB85.HG003687.faa "
            "(MIT AND BSD-3-Clause AND BSD-2-Clause)",
            "proteome_demo.csv.gz",
        ),
        DemoDataset(
            "hemopexin",
            "protein",
            "4,188 hemopexin-like domains from 1,901 proteins of 237 species (highly redundant)",
            "demo-protein",
            "pyfamsa 0.7.0 pyfamsa/tests/data/hemopexin.faa (GPL-3.0-or-later, read at run time)",
        ),
        DemoDataset(
            "antibody",
            "protein",
            "1,664 IMGT germline antibody V genes (heavy, kappa, lambda) of 8 species",
            "sapiens-vh",
            "anarci 2026.2.13.2 anarci/germlines.py (BSD-3-Clause)",
            "antibody_demo.csv.gz",
            other_models=("sapiens-vl",),
        ),
    )
}

HEMOPEXIN_DIST = "pyfamsa"
HEMOPEXIN_FILE = "pyfamsa/tests/data/hemopexin.faa"


def available_demos() -> dict[str, DemoDataset]:
    """The demo datasets, by name, in a stable order."""
    return dict(DEMO_DATASETS)


def demo_for_model(model: str) -> str:
    """The demo dataset to score with a model: the one it is made for, else the first of
    the model's molecule, else ``"rna"`` (a path, or a name the catalogue lacks)."""
    for dataset in DEMO_DATASETS.values():
        if model == dataset.model or model in dataset.other_models:
            return dataset.name
    from biocoreset_viz.models import model_catalogue

    known = model_catalogue().get(model)
    if known is not None:
        for dataset in DEMO_DATASETS.values():
            if dataset.molecule == known.molecule:
                return dataset.name
    return "rna"


def demo_info(name: str) -> DemoDataset:
    """The description of one demo dataset.

    Raises:
        ConfigError: ``name`` is not a demo dataset; the message lists the names.
    """
    try:
        return DEMO_DATASETS[name]
    except KeyError:
        known = ", ".join(DEMO_DATASETS)
        raise ConfigError(f"unknown demo dataset {name!r}; choose one of: {known}") from None


def load_demo(name: str = "rna") -> SequenceSet:
    """Load a demo dataset with its labels, offline.

    Args:
        name: ``"rna"``, ``"rna_structures"``, ``"proteome"``, ``"hemopexin"`` or
            ``"antibody"`` (see the module docstring and :func:`available_demos`).

    Returns:
        The sequences in source order, labels in ``SequenceSet.labels``.

    Raises:
        ConfigError: unknown name.
        BiocoresetError: ``"hemopexin"`` without ``pyfamsa`` installed.
    """
    dataset = demo_info(name)
    if dataset.bundled_file is None:
        return _load_hemopexin(dataset)
    table = _read_bundled_table(dataset.bundled_file)
    labels = table.drop(columns=["id", "sequence"])
    if "structure" in labels:
        labels["structure"] = labels["structure"].mask(labels["structure"] == "")
    return SequenceSet(
        ids=table["id"].tolist(),
        sequences=table["sequence"].tolist(),
        molecule=dataset.molecule,
        labels=labels,
        source=f"demo:{name}",
    )


def _read_bundled_table(file_name: str) -> pd.DataFrame:
    resource = files(BUNDLED_PACKAGE) / file_name
    with resource.open("rb") as handle:
        # keep_default_na: an Rfam family or contig named "NA" must stay a string
        return pd.read_csv(handle, compression="gzip", keep_default_na=False)


def hemopexin_path() -> Path:
    """The hemopexin FASTA inside the installed ``pyfamsa`` package.

    Raises:
        BiocoresetError: pyfamsa is not installed or lacks the file.
    """
    advice = f"the hemopexin demo reads it from pyfamsa: pip install {HEMOPEXIN_DIST}==0.7.0"
    try:
        dist = distribution(HEMOPEXIN_DIST)
    except PackageNotFoundError:
        raise BiocoresetError(f"pyfamsa is not installed; {advice}") from None
    path = Path(str(dist.locate_file(HEMOPEXIN_FILE)))
    if not path.is_file():
        raise BiocoresetError(f"pyfamsa {dist.version} has no {HEMOPEXIN_FILE}; {advice}")
    return path


def _load_hemopexin(dataset: DemoDataset) -> SequenceSet:
    path = hemopexin_path()
    # lowercase letters are Pfam insert states: still residues, uppercased on reading
    sequences = read_sequences(path, molecule="protein")
    # ids are "<UniProt entry>/<start>-<end>" (or "P1;<pdb id>/..." for 4 structures);
    # an entry name ends in its UniProt species code, e.g. HEMO_PIG -> PIG
    proteins = [identifier.split("/", 1)[0] for identifier in sequences.ids]
    species = [p.rsplit("_", 1)[1] if "_" in p else "unknown" for p in proteins]
    sequences.labels = pd.DataFrame({"protein": proteins, "species": species})
    sequences.source = f"demo:{dataset.name}"
    return sequences


def train_heldout_split(
    sequences: SequenceSet,
    *,
    fraction: float = 0.1,
    group_by: str | Sequence[object] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split a set into training and held-out indices, keeping groups together.

    Whole groups (e.g. 80%-identity clusters) go to the held-out side, in a seeded
    random order, until it holds at least ``fraction`` of the sequences; so no group
    is on both sides and near-duplicates cannot leak.

    Args:
        sequences: the set to split.
        fraction: the share of sequences to hold out, in (0, 1).
        group_by: a label column name, one group key per sequence, or ``None``
            (each distinct sequence is its own group, so exact duplicates stay together).
        seed: seeds the order in which groups are drawn.

    Returns:
        ``(train, heldout)``: sorted int64 index arrays that partition ``range(N)``.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if group_by is None:
        keys = pd.Series(sequences.sequences)
    elif isinstance(group_by, str):
        if sequences.labels is None or group_by not in sequences.labels:
            raise ValueError(f"no label column {group_by!r} to group by")
        keys = sequences.labels[group_by].reset_index(drop=True)
    else:
        keys = pd.Series(list(group_by))
        if len(keys) != len(sequences):
            raise ValueError(f"{len(keys)} group keys for {len(sequences)} sequences")
    codes, _ = pd.factorize(keys)  # groups numbered by first appearance
    members = np.bincount(codes)
    order = np.random.default_rng(seed).permutation(len(members))
    # the smallest prefix of the shuffled groups that reaches the target size
    taken = np.searchsorted(np.cumsum(members[order]), fraction * len(sequences)) + 1
    heldout_groups = np.zeros(len(members), dtype=bool)
    heldout_groups[order[:taken]] = True
    heldout = heldout_groups[codes]
    if heldout.all():
        raise ValueError("the groups are too large to hold out a fraction and keep a training set")
    return np.flatnonzero(~heldout), np.flatnonzero(heldout)
