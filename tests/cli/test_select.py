"""``biocoreset select``: a fake run directory in, a coreset out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.cli import main
from biocoreset_viz.cli.select import ARGUMENTS, METHOD_HELP, SIZE, output_kind
from biocoreset_viz.errors import ConfigError
from biocoreset_viz.runs import ScoreTable, read_json, run_sequences, write_json
from biocoreset_viz.selection import METHODS, CoverageCentric, Selection, TopInfluence
from biocoreset_viz.selection.controls import CONTROLS, applies_to
from biocoreset_viz.selection.engine import STRATA_KINDS
from biocoreset_viz.sequences import FASTA_SUFFIXES, read_sequences

N_TOTAL = 200


def write_run(tmp_path, *, record_input: bool = True, embeddings: bool = False):
    """A run directory over a FASTA of 200 RNAs in 10 families, and that FASTA."""
    rng = np.random.default_rng(0)
    ids = [f"rna{i:03d}" for i in range(N_TOTAL)]
    bases = ["".join(rng.choice(list("ACGU"), 80)) for _ in range(10)]
    sequences = []
    for i in range(N_TOTAL):
        letters = list(bases[i % 10])
        for spot in rng.choice(80, 3, replace=False):
            letters[spot] = rng.choice(list("ACGU"))
        sequences.append("".join(letters))
    fasta = tmp_path / "input.fasta"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in zip(ids, sequences, strict=True)))
    frame = pd.DataFrame(
        {
            "index": np.arange(N_TOTAL, dtype=np.int64),
            "id": ids,
            "length": np.full(N_TOTAL, 80),
            "truncated": np.zeros(N_TOTAL, dtype=bool),
            "loss": rng.random(N_TOTAL),
            "self_influence": rng.lognormal(size=N_TOTAL),
            "family": [f"F{i % 10}" for i in range(N_TOTAL)],
        }
    )
    manifest = {"model": "demo", "molecule": "rna"}
    if record_input:
        manifest["input"] = {"path": str(fasta)}
    matrix = rng.normal(size=(N_TOTAL, 8)).astype(np.float16) if embeddings else None
    run_dir = tmp_path / "run"
    ScoreTable(frame, matrix, manifest).save(run_dir)
    return run_dir, fasta, frame


def test_cci_writes_fasta_csv_json_and_saves_the_selection(tmp_path, capsys) -> None:
    run_dir, _, frame = write_run(tmp_path)
    outputs = [tmp_path / "coreset.fasta", tmp_path / "coreset.csv", tmp_path / "coreset.json"]
    status = main(
        ["select", str(run_dir), "--method", "cci", "--pruning-rate", "0.9"]
        + ["--hard-cutoff", "0.1", "--strata", "5", "--seed", "3"]
        + [arg for path in outputs for arg in ("--out", str(path))]
    )
    assert status == 0
    scores = frame["self_influence"].to_numpy()
    expected = CoverageCentric(pruning_rate=0.9, n_strata=5, random_state=3).fit_select(scores)
    saved = Selection.load(run_dir, "cci-n20-b0.1-k5-seed3")
    np.testing.assert_array_equal(saved.indices, expected)
    assert Selection.load(outputs[2]) == saved
    written = read_sequences(outputs[0], molecule="rna")
    assert written.ids == [f"rna{i:03d}" for i in expected]
    assert pd.read_csv(outputs[1])["id"].tolist() == written.ids
    out = capsys.readouterr().out
    assert "selected 20 of 200 sequences (10.00%) with cci" in out
    assert "hard cutoff removed 20 sequences" in out
    assert f"wrote {outputs[0]}" in out


def test_n_select_topi_without_saving(tmp_path) -> None:
    run_dir, _, frame = write_run(tmp_path)
    out = tmp_path / "top.csv"
    status = main(
        ["select", str(run_dir), "--method", "topi", "--n-select", "7"]
        + ["--no-save", "--out", str(out)]
    )
    assert status == 0
    expected = TopInfluence(n_select=7).fit_select(frame["self_influence"].to_numpy())
    np.testing.assert_array_equal(pd.read_csv(out)["index"], expected)
    assert not (run_dir / "selections").exists()


@pytest.mark.parametrize("method", ["bottomi", "random"])
def test_other_score_methods_run(tmp_path, method: str) -> None:
    run_dir, _, _ = write_run(tmp_path)
    assert main(["select", str(run_dir), "--method", method, "--n-select", "15"]) == 0
    (saved,) = (run_dir / "selections").glob("*.json")
    assert Selection.load(saved).n == 15
    assert Selection.load(saved).method == method


def test_score_option_picks_the_score_variant(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    arguments = ["select", str(run_dir), "--method", "topi", "--n-select", "15", "--no-save"]
    assert main([*arguments, "--score", "loss"]) == 0
    assert "with topi ranking by loss" in capsys.readouterr().out
    assert main([*arguments, "--score", "length_adjusted", "--out", str(tmp_path / "c.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "c.csv")) == 15
    assert main([*arguments, "--score", "best"]) == 2
    error = capsys.readouterr().err
    assert "unknown score 'best'" in error and error.count("\n") == 1


def test_diversity_uses_the_run_embeddings(tmp_path) -> None:
    run_dir, _, _ = write_run(tmp_path, embeddings=True)
    status = main(
        ["select", str(run_dir), "--method", "diversity", "--n-select", "12"]
        + ["--strategy", "kcenter", "--name", "spread"]
    )
    assert status == 0
    assert Selection.load(run_dir, "spread").params["strategy"] == "kcenter"


def test_input_option_supplies_the_sequences(tmp_path) -> None:
    run_dir, fasta, _ = write_run(tmp_path, record_input=False)
    out = tmp_path / "c.fa.gz"
    status = main(
        ["select", str(run_dir), "--pruning-rate", "0.95", "--input", str(fasta), "--out", str(out)]
    )
    assert status == 0
    assert len(read_sequences(out, molecule="rna")) == 10


def run_failing(argv: list[str], capsys) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1  # one line, no traceback
    return err


def test_fasta_without_a_known_input_says_what_to_pass(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path, record_input=False)
    err = run_failing(
        ["select", str(run_dir), "--pruning-rate", "0.9", "--out", str(tmp_path / "c.fasta")],
        capsys,
    )
    assert "records no input sequence file; pass --input FASTA" in err


def test_bad_pruning_rate_is_one_line(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(["select", str(run_dir), "--pruning-rate", "1.5"], capsys)
    assert "error: --pruning-rate must be in [0, 1), got 1.5" in err  # the option, not pruning_rate


def test_too_large_n_after_cutoff_is_one_line(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(["select", str(run_dir), "--n-select", "190"], capsys)
    assert "--n-select 190 is larger than the 180 sequences" in err


def test_option_of_another_method_is_refused(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(
        ["select", str(run_dir), "--method", "topi", "--pruning-rate", "0.5", "--strata", "3"],
        capsys,
    )
    assert "--strata does not apply to --method topi" in err


@pytest.mark.parametrize(
    ("method", "option", "value"),
    [("topi", "--seed", "1"), ("cci", "--strategy", "kcenter"), ("random", "--coverage", "0.5")],
)
def test_every_misplaced_option_is_one_line(tmp_path, capsys, method, option, value) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(
        ["select", str(run_dir), "--method", method, "--n-select", "3", option, value], capsys
    )
    assert err == f"biocoreset select: error: {option} does not apply to --method {method}\n"


def test_every_control_is_an_option_in_the_section_of_its_methods() -> None:
    assert list(ARGUMENTS) == list(CONTROLS)
    for parameter, argument in ARGUMENTS.items():
        methods = [method for method in METHODS if applies_to(parameter, method)]
        if argument.section == SIZE:
            assert methods == list(METHODS)
        elif argument.section is None:
            assert len(methods) > 1
        else:
            assert methods == [argument.section], parameter
    assert ARGUMENTS["strata"].choices == STRATA_KINDS
    assert list(METHOD_HELP) == list(METHODS)


def test_output_kinds_follow_the_sequence_suffixes() -> None:
    for suffix in FASTA_SUFFIXES:
        assert output_kind(f"c{suffix}") == output_kind(f"C{suffix.upper()}.gz") == "fasta"
    assert output_kind("ids.csv") == "csv"
    assert output_kind("coreset.JSON") == "json"
    for refused in ("ids.csv.gz", "c.json.gz", "c.txt", "fasta"):
        with pytest.raises(ConfigError, match="unknown output type"):
            output_kind(refused)


def test_unknown_output_type_is_refused(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(
        ["select", str(run_dir), "--pruning-rate", "0.5", "--out", str(tmp_path / "c.txt")], capsys
    )
    assert "unknown output type" in err


def test_not_a_run_directory(tmp_path, capsys) -> None:
    err = run_failing(["select", str(tmp_path), "--pruning-rate", "0.5"], capsys)
    assert "not a run directory" in err


def test_a_size_is_required(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["select", str(run_dir)])
    assert exit_info.value.code == 2
    assert "--pruning-rate" in capsys.readouterr().err


@pytest.mark.mmseqs
def test_identity_clusters_the_recorded_input(tmp_path, capsys) -> None:
    run_dir, _, frame = write_run(tmp_path)
    status = main(
        ["select", str(run_dir), "--method", "identity", "--n-select", "10", "--threads", "1"]
    )
    assert status == 0
    assert "10 clusters" in capsys.readouterr().out
    (saved,) = (run_dir / "selections").glob("identity-*.json")
    families = frame["family"].to_numpy()[Selection.load(saved).indices]
    assert sorted(families) == [f"F{i}" for i in range(10)]


def test_relative_input_is_found_inside_the_run(tmp_path) -> None:
    run_dir, fasta, _ = write_run(tmp_path, record_input=False)
    (run_dir / "seqs.fasta").write_text(fasta.read_text())
    manifest = read_json(run_dir / "manifest.json")
    manifest["input"] = {"path": "seqs.fasta"}
    write_json(run_dir / "manifest.json", manifest)
    assert len(run_sequences(run_dir)) == N_TOTAL


def test_recorded_demo_input_loads_the_demo(tmp_path) -> None:
    pytest.importorskip("biocoreset_viz.datasets")
    run_dir, _, _ = write_run(tmp_path, record_input=False)
    manifest = read_json(run_dir / "manifest.json")
    manifest["input"] = {"path": "demo:rna"}
    write_json(run_dir / "manifest.json", manifest)
    assert run_sequences(run_dir).source == "demo:rna"


def test_missing_input_file_is_one_line(tmp_path, capsys) -> None:
    run_dir, _, _ = write_run(tmp_path)
    err = run_failing(
        ["select", str(run_dir), "--pruning-rate", "0.9", "--input", str(tmp_path / "nope.fa")]
        + ["--out", str(tmp_path / "c.fasta")],
        capsys,
    )
    assert "nope.fa: no such file" in err


def test_recorded_input_that_vanished_says_what_to_pass(tmp_path, capsys) -> None:
    run_dir, fasta, _ = write_run(tmp_path)
    fasta.unlink()
    err = run_failing(
        ["select", str(run_dir), "--pruning-rate", "0.9", "--out", str(tmp_path / "c.fasta")],
        capsys,
    )
    assert "recorded in the manifest is missing; pass --input FASTA" in err


# ------------------------------------- partial runs and hostile input (issue 15)


def _select(run_dir, *options: str) -> list[str]:
    return ["select", str(run_dir), "--method", "topi", "--pruning-rate", "0.5", *options]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("killed", "status 'scoring'"),
        ("deleted", "1 of its 10 score shards is missing"),
        ("duplicated", "not among the run's shards (part-00010.parquet"),
    ],
)
def test_select_refuses_a_partial_or_damaged_run_in_one_line(tmp_path, capsys, damage, message):
    from support.runs import scored_run, set_status

    run_dir, _ = scored_run(tmp_path)
    scores = run_dir / "scores"
    if damage == "killed":  # before: "selected 200 of 400", exit 0
        set_status(run_dir, "scoring")
        for part in range(2, 10):
            (scores / f"part-{part:05d}.parquet").unlink()
    elif damage == "deleted":  # before: 1,800 rows, exported index off the input order
        (scores / "part-00003.parquet").unlink()
    else:  # before: 2,200 rows, duplicate ids in the coreset
        (scores / "part-00010.parquet").write_bytes((scores / "part-00000.parquet").read_bytes())
    assert main(_select(run_dir)) == 2
    error = capsys.readouterr().err
    assert error.startswith("biocoreset select: error: ") and error.count("\n") == 1
    assert message in error and "--allow-partial" in error
    assert not (run_dir / "selections").exists()


def test_allow_partial_selects_from_what_is_there_and_says_so(tmp_path, capsys):
    from support.runs import scored_run

    run_dir, frame = scored_run(tmp_path)
    (run_dir / "scores" / "part-00003.parquet").unlink()
    out = tmp_path / "coreset.csv"
    assert main(_select(run_dir, "--allow-partial", "--out", str(out))) == 0
    printed = capsys.readouterr().out
    assert "selected 180 of 360 sequences" in printed
    assert "partial run (--allow-partial): 360 of its 400 sequences are scored" in printed
    exported = pd.read_csv(out)
    assert exported["id"].tolist() == frame["id"].to_numpy()[exported["index"]].tolist()
    saved = Selection.load(run_dir, "topi-n180-partial")
    assert saved.n_total == 400 and saved.partial["missing_shards"] == [3]
    assert saved.partial["rows"] == 360


def test_select_in_a_read_only_run_directory_is_one_line(tmp_path, capsys, monkeypatch):
    import os

    run_dir, _, _ = write_run(tmp_path)
    run_dir.chmod(0o555)
    try:
        if os.access(run_dir, os.W_OK):  # root writes anywhere: fail as the kernel would
            from biocoreset_viz import runs

            real = runs.atomic_write_bytes

            def refuse(path, data):
                if str(path).startswith(str(run_dir)):
                    raise PermissionError(13, "Permission denied", str(path))
                return real(path, data)

            monkeypatch.setattr(runs, "atomic_write_bytes", refuse)
        assert main(["select", str(run_dir), "--pruning-rate", "0.9"]) == 2
    finally:
        run_dir.chmod(0o755)
    error = capsys.readouterr().err
    assert error.count("\n") == 1  # was a PermissionError traceback
    assert "cannot save the selection in selections/ (Permission denied)" in error
    assert "--no-save" in error
    assert main(["select", str(run_dir), "--pruning-rate", "0.9", "--no-save"]) == 0


def test_absurd_strata_and_an_empty_coreset_are_refused_at_once(tmp_path, capsys):
    run_dir, _, _ = write_run(tmp_path)
    assert main(["select", str(run_dir), "--pruning-rate", "0.5", "--strata", "100000000"]) == 2
    error = capsys.readouterr().err  # before: minutes and 20 GB (2,000 scores)
    assert "--strata must be an integer in [1, 1,000]" in error and error.count("\n") == 1
    assert main(["select", str(run_dir), "--pruning-rate", "0.999"]) == 2
    error = capsys.readouterr().err  # before: an empty selection saved, exit 0
    assert "the coreset would be empty" in error and error.count("\n") == 1
    assert not (run_dir / "selections").exists()


def test_a_fasta_of_ids_with_spaces_reads_back(tmp_path, capsys):
    """Ids with spaces (a CSV input): before, the coreset FASTA did not re-read
    ('duplicate id' on '<iframe ...')."""
    from biocoreset_viz.sequences import read_ids, unescape_fasta_id

    run_dir, fasta, frame = write_run(tmp_path)
    hostile = [f'<iframe src="x"> {i}' if i % 3 == 0 else f"rna {i}" for i in range(N_TOTAL)]
    table = ScoreTable.load(run_dir)
    table.frame["id"] = hostile
    table.save(run_dir)
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"id": hostile, "sequence": read_sequences(fasta).sequences}).to_csv(
        pool, index=False
    )
    out, ids = tmp_path / "coreset.fasta", tmp_path / "coreset.csv"
    arguments = ["select", str(run_dir), "--pruning-rate", "0.9", "--input", str(pool)]
    assert main([*arguments, "--out", str(out), "--out", str(ids), "--no-save"]) == 0
    assert "ids hold spaces, tabs or control characters and are percent-escaped" in (
        capsys.readouterr().out
    )
    back = read_sequences(out)
    assert [unescape_fasta_id(i) for i in back.ids] == read_ids(ids)
    assert set(read_ids(ids)) <= set(hostile)
