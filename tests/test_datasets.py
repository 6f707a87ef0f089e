"""Demo datasets: counts, labels, provenance rules, and the held-out split."""

from __future__ import annotations

import importlib.util
import pathlib
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.datasets import (
    available_demos,
    demo_info,
    hemopexin_path,
    load_demo,
    train_heldout_split,
)
from biocoreset_viz.errors import BiocoresetError
from biocoreset_viz.sequences import SequenceSet, invalid_characters

BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}


def balanced(structure: str) -> bool:
    stacks: dict[str, int] = Counter()
    for char in structure:
        if char in BRACKETS.values():
            stacks[char] += 1
        elif char in BRACKETS:
            stacks[BRACKETS[char]] -= 1
            if stacks[BRACKETS[char]] < 0:
                return False
    return all(depth == 0 for depth in stacks.values())


@pytest.fixture(scope="module")
def rna() -> SequenceSet:
    return load_demo("rna")


def test_available_demos_lists_every_name_with_its_molecule():
    demos = available_demos()
    assert list(demos) == ["rna", "rna_structures", "proteome", "hemopexin", "antibody"]
    assert {name: d.molecule for name, d in demos.items()} == {
        "rna": "rna",
        "rna_structures": "rna",
        "proteome": "protein",
        "hemopexin": "protein",
        "antibody": "protein",
    }
    assert demos["rna"].model == "demo-rna"
    assert demos["proteome"].model == "demo-protein"
    assert demos["antibody"].model == "sapiens-vh"


def test_unknown_demo_name_lists_the_names():
    with pytest.raises(ValueError, match=r"unknown demo dataset 'rnas'; choose one of: rna, "):
        load_demo("rnas")


def test_rna_counts_and_labels(rna):
    assert len(rna) == 4223
    assert rna.molecule == "rna"
    assert len(set(rna.sequences)) == 4223
    assert len(set(rna.ids)) == 4223
    assert list(rna.labels.columns) == ["family", "cluster", "structure"]
    assert rna.labels["cluster"].nunique() == 1002
    families = rna.labels["family"]
    assert (families == "unknown").sum() == 1819
    assert families[families != "unknown"].nunique() == 100
    assert Counter(families).most_common(3) == [
        ("unknown", 1819),
        ("5S_rRNA", 1255),
        ("tRNA", 283),
    ]
    assert rna.lengths.min() == 11 and rna.lengths.max() == 4455
    assert not any(invalid_characters(s, "rna") for s in rna.sequences)


def test_rna_unresolved_residues_are_n(rna):
    # rnaglib writes unresolved residues as '_'; 87 rows have them, now as N
    with_n = [s for s in rna.sequences if "N" in s]
    assert len(with_n) == 87
    assert "NNNNCGNNNNNNNNCGNNNN" in with_n


def test_rna_structures_match_squarna_exactly(rna):
    known = rna.labels["structure"].notna()
    assert known.sum() == 247
    structures = load_demo("rna_structures")
    squarna = dict(zip(structures.sequences, structures.labels["structure"], strict=False))
    for sequence, structure in zip(
        np.array(rna.sequences)[known], rna.labels["structure"][known], strict=True
    ):
        assert len(structure) == len(sequence)
        assert balanced(structure)
        assert sequence in squarna
    # the one sequence squarna has from two PDB entries takes the entry rnaglib lists first
    row = rna.ids.index("2UWM_1_C")
    assert rna.labels["structure"][row] == "((((.(((((..).)))).))))"


def test_rna_structures_dataset():
    structures = load_demo("rna_structures")
    assert len(structures) == 485
    assert structures.labels["split"].value_counts().to_dict() == {"train": 266, "test": 219}
    assert structures.lengths.min() == 8 and structures.lengths.max() == 150
    for sequence, structure in zip(
        structures.sequences, structures.labels["structure"], strict=True
    ):
        assert len(sequence) == len(structure)
        assert set(structure) <= set(".()[]{}<>")
        assert balanced(structure)
    assert all(" " not in name for name in structures.ids)


def test_proteome_counts_and_labels():
    proteome = load_demo("proteome")
    assert len(proteome) == 2100
    assert proteome.molecule == "protein"
    assert len(set(proteome.sequences)) == 2095
    assert not any(s.endswith("*") for s in proteome.sequences)
    assert not any(invalid_characters(s, "protein") for s in proteome.sequences)
    labels = proteome.labels
    assert list(labels.columns) == ["contig", "start", "end", "strand"]
    assert labels["contig"].nunique() == 8
    assert set(labels["strand"]) == {1, -1}
    # prodigal coordinates span the protein's codons plus the stop codon, except for
    # the one gene that runs off its contig's end
    span = labels["end"] - labels["start"] + 1
    assert (span == 3 * (proteome.lengths + 1)).sum() == 2099
    assert (span == 3 * proteome.lengths).sum() == 1


def test_hemopexin_counts_and_labels():
    if importlib.util.find_spec("pyfamsa") is None:
        pytest.skip("pyfamsa is not installed; the hemopexin demo reads its file at run time")
    hemopexin = load_demo("hemopexin")
    assert len(hemopexin) == 4188
    assert hemopexin.molecule == "protein"
    assert all(s == s.upper() for s in hemopexin.sequences)
    labels = hemopexin.labels
    assert labels["protein"].nunique() == 1901
    assert labels[labels["species"] != "unknown"]["species"].nunique() == 237
    assert (labels["species"] == "unknown").sum() == 4
    first = hemopexin.ids.index("HEMO_PIG/189-233")
    assert labels.loc[first, ["protein", "species"]].tolist() == ["HEMO_PIG", "PIG"]


def test_hemopexin_is_read_from_the_installed_package_not_the_repository():
    if importlib.util.find_spec("pyfamsa") is None:
        pytest.skip("pyfamsa is not installed")
    from importlib.metadata import distribution
    from importlib.resources import files

    assert demo_info("hemopexin").bundled_file is None
    installed = distribution("pyfamsa").locate_file("pyfamsa/tests/data/hemopexin.faa")
    assert hemopexin_path() == pathlib.Path(str(installed))
    # GPL data: no copy of it may be bundled with the package
    bundled = [entry.name for entry in files("biocoreset_viz._bundled").iterdir()]
    assert not [name for name in bundled if "hemopexin" in name.lower()]


def test_missing_pyfamsa_names_the_install_command(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    import biocoreset_viz.datasets as datasets

    def not_installed(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr(datasets, "distribution", not_installed)
    with pytest.raises(
        BiocoresetError, match=r"pyfamsa is not installed; .*pip install pyfamsa==0\.7\.0"
    ):
        load_demo("hemopexin")


def test_bundled_files_are_small():
    from importlib.resources import files

    total = sum(
        (files("biocoreset_viz._bundled") / d.bundled_file).stat().st_size
        for d in available_demos().values()
        if d.bundled_file
    )
    assert total < 2_000_000


@pytest.mark.parametrize("group_by", ["cluster", None])
def test_heldout_split_partitions_and_keeps_groups_apart(rna, group_by):
    train, heldout = train_heldout_split(rna, fraction=0.1, group_by=group_by, seed=3)
    assert np.array_equal(np.sort(np.concatenate([train, heldout])), np.arange(len(rna)))
    assert 0.1 <= len(heldout) / len(rna) < 0.2
    keys = rna.labels["cluster"] if group_by else pd.Series(rna.sequences)
    assert not set(keys[train]) & set(keys[heldout])
    again = train_heldout_split(rna, fraction=0.1, group_by=group_by, seed=3)
    assert np.array_equal(again[1], heldout)
    other = train_heldout_split(rna, fraction=0.1, group_by=group_by, seed=4)
    assert not np.array_equal(other[1], heldout)


def test_heldout_split_keeps_exact_duplicates_together():
    proteome = load_demo("proteome")
    train, heldout = train_heldout_split(proteome, seed=0)
    assert not {proteome.sequences[i] for i in train} & {proteome.sequences[i] for i in heldout}


def test_heldout_split_rejects_a_bad_fraction(rna):
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\), got 1\.5"):
        train_heldout_split(rna, fraction=1.5)


def test_heldout_split_rejects_an_unknown_column(rna):
    with pytest.raises(ValueError, match="no label column 'species' to group by"):
        train_heldout_split(rna, group_by="species")


def test_heldout_split_rejects_groups_that_leave_no_training_set():
    one_group = SequenceSet.from_sequences(["ACGU", "GGCC", "AUAU"], molecule="rna")
    with pytest.raises(ValueError, match="groups are too large"):
        train_heldout_split(one_group, group_by=["g", "g", "g"])


# ---------------------------------------------------------------------------
# The antibody germlines (anarci)


@pytest.fixture(scope="module")
def antibody() -> SequenceSet:
    return load_demo("antibody")


def test_antibody_demo_has_germline_v_genes_of_eight_species(antibody):
    assert antibody.molecule == "protein" and antibody.source == "demo:antibody"
    assert len(antibody) == 1664
    labels = antibody.labels
    assert list(labels.columns) == ["gene", "allele", "chain", "species"]
    assert set(labels["chain"]) == {"heavy", "kappa", "lambda"}
    assert set(labels["species"]) == {
        "human", "mouse", "rat", "rabbit", "rhesus", "pig", "alpaca", "cow",
    }  # fmt: skip
    counts = labels.groupby(["chain", "species"]).size()
    assert counts["heavy", "human"] == 249 and counts["kappa", "mouse"] == 124
    assert len(set(antibody.ids)) == len(antibody)
    assert all(91 <= len(s) <= 102 for s in antibody.sequences)
    assert not any(invalid_characters(s, "protein") for s in antibody.sequences)
    human_heavy = labels[(labels["species"] == "human") & (labels["chain"] == "heavy")]
    assert human_heavy["gene"].str.startswith("IGHV").all()
    assert (labels["allele"].str.split("*").str[0] == labels["gene"]).all()


def test_antibody_demo_is_a_scored_demo_with_the_sapiens_model():
    info = demo_info("antibody")
    assert info.model == "sapiens-vh" and info.bundled_file == "antibody_demo.csv.gz"
    assert "anarci 2026.2.13.2" in info.source and "BSD-3-Clause" in info.source
    assert "antibody" in available_demos()
