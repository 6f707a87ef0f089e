"""The labelled task sets: structure tables (squarna, bpRNA at an explicit path, CSV), ViennaRNA
folds, hemopexin blades."""

from __future__ import annotations

import numpy as np
import pytest
from support.evaluation_runs import SHARED_BPRNA, needs_shared_bprna

from biocoreset_viz.datasets import load_demo
from biocoreset_viz.errors import ConfigError, InputError
from biocoreset_viz.evaluation import (
    EvaluationConfig,
    bprna_path,
    fold_structures,
    hemopexin_blades,
    leakage_report,
    load_structure_table,
    parse_dot_bracket,
    prepare_evaluation,
)


def test_structure_sources_are_read_and_checked(tmp_path) -> None:
    squarna = load_structure_table("squarna")
    assert len(squarna) == 485 and set(squarna["split"]) == {"train", "test"}
    with pytest.raises(ConfigError, match="structure_source must be squarna, bprna, pool"):
        load_structure_table(str(tmp_path / "absent.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sequence\na,ACGU\n")
    with pytest.raises(Exception, match=r"lacks columns \['structure'\]"):
        load_structure_table(str(bad))


def test_the_bprna_file_is_read_from_the_path_given_and_nowhere_else(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("BIOCORESET_BPRNA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="needs the path of bprna.csv.gz: pass bprna=PATH"):
        bprna_path()
    absent = tmp_path / "nowhere" / "bprna.csv.gz"
    with pytest.raises(InputError, match="no such file: the bpRNA-derived structure set") as error:
        load_structure_table("bprna", bprna=absent)
    assert str(absent) in str(error.value) and "\n" not in str(error.value)
    config = EvaluationConfig(tasks=["structure"], structure_source="bprna", bprna=str(absent))
    with pytest.raises(InputError, match="no such file"):
        prepare_evaluation(load_demo("rna").subset(np.arange(40)), config)
    given = tmp_path / "mine.csv"
    given.write_text("id,sequence,structure,split\nr1,GGGGAAACCCC,((((...)))),train\n")
    assert bprna_path(given) == given
    monkeypatch.setenv("BIOCORESET_BPRNA", str(given))  # the variable names a path too
    assert bprna_path() == given
    assert load_structure_table("bprna")["id"].tolist() == ["r1"]


def test_vienna_folds_a_hairpin() -> None:
    (structure,) = fold_structures(["GGGGAAAACCCC"])
    assert len(structure) == 12
    assert len(parse_dot_bracket(structure)) >= 3


def test_hemopexin_blades_are_four_per_protein_in_order() -> None:
    blades = hemopexin_blades()
    assert (blades.groupby("protein").size() == 4).all()
    per_protein = blades.groupby("protein")["label"].apply(sorted)
    assert all(labels == ["blade1", "blade2", "blade3", "blade4"] for labels in per_protein)
    starts = blades["id"].str.extract(r"/(\d+)-")[0].astype(int)
    first = blades.assign(start=starts).sort_values("start").groupby("protein")["label"].first()
    assert (first == "blade1").all()


@needs_shared_bprna
def test_every_bprna_structure_parses(monkeypatch) -> None:
    monkeypatch.delenv("BIOCORESET_BPRNA", raising=False)  # the path given is what is read
    table = load_structure_table("bprna", bprna=SHARED_BPRNA)
    assert len(table) == 24_651
    assert set(table["split"]) == {"train", "test"}
    pseudoknotted = 0
    for sequence, structure in zip(table["sequence"], table["structure"], strict=True):
        pairs = parse_dot_bracket(structure)
        assert len(structure) == len(sequence)
        assert not pairs.size or pairs.max() < len(sequence)
        pseudoknotted += any(c in structure for c in "[]{}<>")
    assert pseudoknotted == 5_580  # as data/README.md counts
    # as a probe source: bpRNA-1m trains the probe, the new families of bpRNA-NF-15.0 test it
    pool = load_demo("rna").subset(np.arange(0, 4000, 40))
    config = EvaluationConfig(
        tasks=["structure"],
        structure_source="bprna",
        bprna=str(SHARED_BPRNA),
        probe_train_sequences=40,
        probe_test_sequences=30,
        structure_max_length=120,
    )
    plan = prepare_evaluation(pool, config)
    assert leakage_report(plan.splits) == {"structure": 0}
    split = table.set_index("id")["split"]
    used = plan.splits[plan.splits["dataset"] == "structure"]
    for role in ("train", "test"):
        ids = used.loc[used["role"] == role, "id"]
        assert len(ids) and (split[ids] == role).all()
