"""Whole reads: a run is checked against its manifest before anything reads it (issue 15).

The cases as they were found: a killed run (status "scoring", 2 of 10 shards) gave
"selected 200 of 400"; a complete run with a shard deleted gave 1,800 rows whose
exported ``index`` no longer matched the input order; a duplicated shard gave 2,200
rows and duplicate ids in the coreset. Each is now refused in one line that says
what is wrong and what to do, unless the reader allows a partial run.
"""

from __future__ import annotations

import shutil
import signal

import numpy as np
import pytest
from support.runs import holder, scored_run, set_status

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.run_check import check_run
from biocoreset_viz.runs import ScoreTable, write_shard


@pytest.fixture
def run(tmp_path):
    return scored_run(tmp_path, n=400, shard_size=40)


def test_a_whole_run_loads_with_its_status(run):
    run_dir, frame = run
    table = ScoreTable.load(run_dir)
    assert table.status.complete and table.pool_size == 400 == len(table)
    assert table.frame["id"].tolist() == frame["id"].tolist()


def test_a_killed_run_is_refused_and_read_in_part_only_when_allowed(run):
    run_dir, _ = run
    set_status(run_dir, "scoring")
    for part in range(2, 10):
        (run_dir / "scores" / f"part-{part:05d}.parquet").unlink()
    with pytest.raises(RunDirectoryError) as refused:
        ScoreTable.load(run_dir)
    message = str(refused.value)
    assert "incomplete run: its manifest says status 'scoring'" in message
    assert "8 of its 10 score shards are missing" in message
    assert "80 of 400 rows are there" in message
    assert "rerun the same `biocoreset score` command to resume" in message
    assert "--allow-partial" in message and "\n" not in message
    partial = ScoreTable.load(run_dir, allow_partial=True)
    assert len(partial) == 80 and partial.pool_size == 400 and not partial.status.complete
    assert partial.status.partial_record()["missing_shards"] == list(range(2, 10))


def test_a_deleted_shard_is_refused(run):
    run_dir, frame = run
    (run_dir / "scores" / "part-00003.parquet").unlink()
    with pytest.raises(
        RunDirectoryError, match=r"1 of its 10 score shards is missing .*part-00003"
    ):
        ScoreTable.load(run_dir)
    partial = ScoreTable.load(run_dir, allow_partial=True)
    assert len(partial) == 360
    index = partial.frame["index"].to_numpy()
    assert 120 not in index and np.array_equal(  # positions stay those of the input
        partial.frame["id"].to_numpy(), frame["id"].to_numpy()[index]
    )


def test_a_duplicated_shard_is_refused_and_never_read(run):
    run_dir, _ = run
    shutil.copy(
        run_dir / "scores" / "part-00000.parquet", run_dir / "scores" / "part-00010.parquet"
    )
    with pytest.raises(RunDirectoryError, match=r"damaged run: 1 file in scores/ not among"):
        ScoreTable.load(run_dir)
    partial = ScoreTable.load(run_dir, allow_partial=True)
    assert len(partial) == 400 and partial.frame["id"].is_unique  # was 440 rows, 40 ids twice


def test_a_shard_copied_over_another_is_damaged_by_its_positions(run):
    run_dir, _ = run
    shutil.copy(
        run_dir / "scores" / "part-00000.parquet", run_dir / "scores" / "part-00004.parquet"
    )
    with pytest.raises(RunDirectoryError, match=r"part-00004.parquet is damaged \(positions 0-39"):
        check_run(run_dir)


def test_a_garbled_shard_and_a_garbled_manifest_are_one_line_errors(run):
    run_dir, _ = run
    shard = run_dir / "scores" / "part-00004.parquet"
    shard.write_bytes(shard.read_bytes()[:300])
    with pytest.raises(RunDirectoryError, match=r"part-00004.parquet is damaged \(not a readable"):
        ScoreTable.load(run_dir)
    manifest = run_dir / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])
    with pytest.raises(RunDirectoryError, match=r"manifest.json: not valid JSON at line \d+"):
        ScoreTable.load(run_dir)


def test_a_position_scored_twice_inside_a_shard_is_refused(tmp_path):
    run_dir, frame = scored_run(tmp_path, n=20, shard_size=10)
    doubled = frame.iloc[:10].copy()
    doubled.loc[5, "index"] = 4  # the footer's row count and bounds still look right
    write_shard(run_dir / "scores" / "part-00000.parquet", doubled, None)
    with pytest.raises(RunDirectoryError, match="1 positions are scored twice"):
        ScoreTable.load(run_dir, embeddings=False)


def test_a_run_being_scored_names_its_writer(run):
    run_dir, _ = run
    set_status(run_dir, "scoring")
    (run_dir / "scores" / "part-00009.parquet").unlink()
    writer = holder(run_dir)
    try:
        with pytest.raises(RunDirectoryError, match=f"being scored now by process {writer.pid}"):
            check_run(run_dir)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with pytest.raises(RunDirectoryError, match="a scoring run that stopped before the end"):
        check_run(run_dir)


def test_evaluate_refuses_a_partial_run(run):
    from biocoreset_viz.evaluation.runner import evaluate

    run_dir, _ = run
    (run_dir / "scores" / "part-00003.parquet").unlink()
    with pytest.raises(RunDirectoryError, match="1 of its 10 score shards is missing"):
        evaluate(run_dir, "cci", 1)


def test_the_dashboard_refuses_a_partial_run(run, capsys):
    """Before, ``biocoreset serve`` on a killed run served its 80 of 400 rows."""
    from biocoreset_viz.app.store import DataStore
    from biocoreset_viz.cli import main

    run_dir, _ = run
    set_status(run_dir, "scoring")
    for part in range(2, 10):
        (run_dir / "scores" / f"part-{part:05d}.parquet").unlink()
    with pytest.raises(RunDirectoryError, match="incomplete run: its manifest says status"):
        DataStore(run_dir, umap=False)  # what a ?run= session opens
    assert main(["serve", str(run_dir), "--no-umap"]) == 2  # refused before serving
    printed = capsys.readouterr()
    assert printed.out == ""  # no "serving at http://..." banner before the refusal
    error = printed.err
    assert error.startswith("biocoreset serve: error: ") and error.count("\n") == 1
    assert "8 of its 10 score shards are missing" in error
