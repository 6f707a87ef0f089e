"""The Ray engine: same run directory and scores as the local engine, resumable, and
no row lost or duplicated when a worker dies. Runs on a local 2-CPU Ray cluster.

Without Ray installed the cluster tests skip, unless BIOCORESET_REQUIRE_RAY=1 (set
it in CI, which installs the ``distributed`` extra) makes them fail instead. The
workers die where the test's crash hook (tests/support/ray_crash.py, installed in
every worker through Ray's runtime environment) makes them.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch
from support import ray_crash
from support.distributed import N_SEQUENCES, SHARD_SIZE, config

from biocoreset_viz.cli import main
from biocoreset_viz.distributed import RayOptions, check_complete, score_with_ray
from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.influence import FinetuneSettings, InfluenceConfig, score_run
from biocoreset_viz.runs import ScoreTable, shard_paths
from biocoreset_viz.sequences import read_sequences


def test_the_final_check_catches_a_lost_or_duplicated_row(tmp_path):
    from biocoreset_viz.runs import write_shard

    def shard(part: int, indices: list[int]) -> None:
        frame = pd.DataFrame({"index": indices, "id": [f"s{i}" for i in indices]})
        frame["self_influence"] = 1.0
        write_shard(tmp_path / "scores" / f"part-{part:05d}.parquet", frame, None)

    shard(0, [0, 1, 2])
    shard(1, [3, 4])
    check_complete(tmp_path, 5)  # complete: passes
    with pytest.raises(RunDirectoryError, match="5 rows .5 distinct positions. for a pool of 6"):
        check_complete(tmp_path, 6)
    shard(1, [3, 3])
    with pytest.raises(RunDirectoryError, match="4 distinct positions"):
        check_complete(tmp_path, 5)


def test_a_second_writer_is_refused_before_any_cluster_starts(pool_files, tmp_path):
    """One writer per run directory, in the Ray engine too (issue 15): the driver takes
    the writer lock before staging, so a run held by another scorer is refused at once."""
    import signal

    from support.runs import holder

    pytest.importorskip("ray")
    first = holder(tmp_path)
    try:
        with pytest.raises(RunDirectoryError, match=f"written by process {first.pid} on "):
            score_with_ray(pool_files["sharded"], pool_files["model"], tmp_path, progress=False)
        assert not (tmp_path / "inputs").exists()  # nothing staged, nothing written
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A local 2-CPU Ray cluster whose workers see the crash-hook folder."""
    try:
        import ray
    except ImportError:
        if os.environ.get("BIOCORESET_REQUIRE_RAY"):
            raise
        pytest.skip('Ray is not installed: pip install "biocoreset_viz[distributed]"')
    crash_dir = tmp_path_factory.mktemp("crash-hooks")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env=ray_crash.runtime_env(crash_dir),
    )
    yield crash_dir
    ray.shutdown()


@pytest.fixture
def one_thread():
    """CPU matrix products round differently with another thread count: the engines
    are compared at the actors' one thread (the driver fine-tunes and fits the Fisher)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def local_run(pool_files, tmp_path_factory):
    """The reference: the local engine on the single CSV, at one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_dir = tmp_path_factory.mktemp("local")
        table = score_run(
            read_sequences(pool_files["single"]),
            pool_files["model"],
            run_dir,
            config(),
            finetune_settings=FinetuneSettings(epochs=1),
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    return table


@pytest.fixture(scope="module")
def ray_run(ray_cluster, pool_files, tmp_path_factory):
    """The Ray engine on the sharded input, with two workers killed along the way:
    one before it writes shard 1, one after it wrote shard 3 but before it reported it."""
    crash_dir = ray_cluster
    for trigger in ("before-write-part-00001", "after-write-part-00003"):
        (crash_dir / trigger).write_text("")
    run_dir = tmp_path_factory.mktemp("ray")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the driver's fine-tune and Fisher, as in local_run
    try:
        table = score_with_ray(
            pool_files["sharded"],
            pool_files["model"],
            run_dir,
            config(),
            finetune_settings=FinetuneSettings(epochs=1),
            options=RayOptions(num_actors=2, cpus_per_actor=1),
            progress=False,
        )
    finally:
        torch.set_num_threads(threads)
    return run_dir, table, crash_dir


def test_a_killed_worker_loses_and_duplicates_nothing(ray_run):
    run_dir, table, crash_dir = ray_run
    fired = sorted(p.name for p in crash_dir.iterdir())
    # both hooks fired (the workers really died), and only once each
    assert fired == ["after-write-part-00003.fired", "before-write-part-00001.fired"]
    assert table.frame["index"].tolist() == list(range(N_SEQUENCES))
    assert table.frame["id"].is_unique
    assert len(shard_paths(run_dir)) == 8
    assert table.manifest["status"] == "complete"
    assert table.manifest["counts"] == {"scored": N_SEQUENCES, "truncated": 0, "skipped": 0}
    assert table.manifest["engine"]["name"] == "ray"


def test_ray_scores_equal_the_local_engine(ray_run, local_run):
    _, table, _ = ray_run
    # Same model, Fisher, input and config: either engine could resume the other's run.
    assert table.manifest["identity"] == local_run.manifest["identity"]
    assert table.ids.tolist() == local_run.ids.tolist()
    np.testing.assert_array_equal(table.scores, local_run.scores)
    np.testing.assert_array_equal(table.frame["loss"], local_run.frame["loss"])
    np.testing.assert_array_equal(table.embeddings, local_run.embeddings)
    assert table.frame["family"].tolist() == local_run.frame["family"].tolist()
    assert table.frame["length"].tolist() == local_run.frame["length"].tolist()
    assert (table.scores > 0).all()


def test_ray_run_resumes_only_the_missing_shards_from_the_command_line(
    ray_run, pool_files, one_thread
):
    run_dir, before, _ = ray_run
    paths = shard_paths(run_dir)
    for missing in (paths[2], paths[5]):
        missing.unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in shard_paths(run_dir)}
    status = main(
        ["score", *map(str, pool_files["sharded"]), "--model", str(pool_files["model"]),
         "--out", str(run_dir), "--engine", "ray", "--ray-actors", "2", "--device", "cpu",
         "--shard-size", str(SHARD_SIZE), "--fisher-subset", "16", "--max-tokens", "400",
         "--quiet"]
    )  # fmt: skip
    assert status == 0
    after = ScoreTable.load(run_dir)
    assert {p.name: p.stat().st_mtime_ns for p in shard_paths(run_dir) if p.name in kept} == kept
    assert len(shard_paths(run_dir)) == 8
    assert after.frame["index"].tolist() == list(range(N_SEQUENCES))
    np.testing.assert_array_equal(after.scores, before.scores)
    np.testing.assert_array_equal(after.embeddings, before.embeddings)


def test_ray_engine_refuses_a_device_index(pool_files, tmp_path):
    with pytest.raises(ConfigError, match="gives each actor its own GPU"):
        score_with_ray(
            pool_files["single"],
            pool_files["model"],
            tmp_path,
            InfluenceConfig(device="cuda:1"),
            progress=False,
        )
