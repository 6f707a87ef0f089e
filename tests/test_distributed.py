"""The Ray engine: same run directory and scores as the local engine, resumable, and
no row lost or duplicated when a worker dies. Runs on a local 2-CPU Ray cluster.

Without Ray installed the cluster tests skip, unless BIOCORESET_REQUIRE_RAY=1 (set
it in CI, which installs the ``distributed`` extra) makes them fail instead.
"""

from __future__ import annotations

import builtins
import os
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from biocoreset_viz.cli import main
from biocoreset_viz.distributed import (
    CRASH_HOOK_ENV,
    RayNotInstalledError,
    RayOptions,
    expand_inputs,
    require_ray,
    score_with_ray,
    stage_inputs,
)
from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError
from biocoreset_viz.influence import (
    FinetuneSettings,
    InfluenceConfig,
    input_fingerprint,
    score_run,
)
from biocoreset_viz.models import build_esm2, rna_alphabet, save_model
from biocoreset_viz.runs import ScoreTable, shard_paths
from biocoreset_viz.sequences import read_sequences

ROOT = Path(__file__).resolve().parents[1]
N_SEQUENCES = 60
SHARD_SIZE = 8  # 8 shards: 7 full, the last with 4 sequences


def random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sequences = ["".join(rng.choice(list("ACGU"), rng.integers(5, 60))) for _ in range(n)]
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "sequence": sequences,
            "family": [f"fam{i % 3}" for i in range(n)],
        }
    )


def config() -> InfluenceConfig:
    return InfluenceConfig(shard_size=SHARD_SIZE, fisher_subset=16, device="cpu", max_tokens=400)


@pytest.fixture(scope="module")
def pool_files(tmp_path_factory):
    """The same pool as one CSV (for the local engine) and as sharded CSV + Parquet input."""
    folder = tmp_path_factory.mktemp("pool")
    frame = random_frame(N_SEQUENCES)
    frame.to_csv(folder / "pool.csv", index=False)
    frame.iloc[:25].to_csv(folder / "shard-0.csv", index=False)
    frame.iloc[25:].to_parquet(folder / "shard-1.parquet", index=False)
    checkpoint = save_model(
        build_esm2(2, 32, 4, rna_alphabet(), seed=0), rna_alphabet(), folder / "model.pt"
    )
    return {
        "single": folder / "pool.csv",
        "sharded": [folder / "shard-0.csv", folder / "shard-1.parquet"],
        "model": checkpoint,
        "frame": frame,
    }


# ------------------------------------------------------------------------- staging (no Ray)


def test_staging_streams_sharded_input_into_the_local_engines_pool(tmp_path, pool_files):
    staged = stage_inputs(pool_files["sharded"], tmp_path, shard_size=SHARD_SIZE, progress=False)
    local = read_sequences(pool_files["single"])
    assert staged.count == len(local) == N_SEQUENCES
    assert staged.sha256 == input_fingerprint(local)
    assert staged.molecule == "rna" and staged.label_columns == ["family"]
    np.testing.assert_array_equal(staged.lengths, local.lengths)
    assert staged.n_parts == 8 and len(list((tmp_path / "inputs").glob("part-*.parquet"))) == 8
    indices, part = staged.part_sequences(3)
    np.testing.assert_array_equal(indices, np.arange(24, 32))  # crosses the CSV/Parquet border
    assert part.ids == local.ids[24:32] and part.sequences == local.sequences[24:32]
    assert part.labels["family"].tolist() == local.labels["family"].tolist()[24:32]
    subset = staged.subset(np.array([0, 7, 8, 59]))
    assert subset.ids == ["r0", "r7", "r8", "r59"]
    assert subset.sequences == [local.sequences[i] for i in (0, 7, 8, 59)]


def test_staging_is_reused_until_an_input_file_changes(tmp_path, pool_files):
    inputs = [tmp_path / "a.fa", tmp_path / "b.fa"]
    inputs[0].write_text(">x\nACGU\n>y\nGGGA\n")
    inputs[1].write_text(">z\nACGUACGU\n")
    first = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    summary = tmp_path / "run" / "inputs" / "summary.json"
    stamp = summary.stat().st_mtime_ns
    again = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    assert again == first and summary.stat().st_mtime_ns == stamp
    inputs[1].write_text(">z\nACGUACGUAA\n")
    changed = stage_inputs(inputs, tmp_path / "run", shard_size=2, progress=False)
    assert changed.sha256 != first.sha256
    assert changed.lengths.tolist() == [4, 4, 10]


def test_staging_refuses_an_id_used_in_two_files(tmp_path):
    (tmp_path / "a.fa").write_text(">x\nACGU\n>y\nGGGA\n")
    (tmp_path / "b.fa").write_text(">q\nACGU\n>y\nACGUACGU\n")
    with pytest.raises(InputError, match=r"duplicate id across the input files \(record 'y'\)"):
        stage_inputs(
            [tmp_path / "a.fa", tmp_path / "b.fa"], tmp_path / "run", shard_size=3, progress=False
        )


def test_parquet_input_is_validated(tmp_path):
    pd.DataFrame({"name": ["a"], "seq": ["AC#U"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"invalid rna characters '#' \(record 'a'\)"):
        stage_inputs(
            tmp_path / "bad.parquet", tmp_path / "run", shard_size=2, molecule="rna", progress=False
        )
    pd.DataFrame({"id": ["a"], "letters": ["ACGU"]}).to_parquet(tmp_path / "none.parquet")
    with pytest.raises(InputError, match="no sequence column"):
        stage_inputs(tmp_path / "none.parquet", tmp_path / "run2", shard_size=2, progress=False)


def test_inputs_expand_folders_and_globs_in_name_order(tmp_path):
    for name in ("b.fa", "a.parquet", "c.txt.gz", ".hidden.fa", "notes.md"):
        (tmp_path / name).write_text("")
    assert [p.name for p in expand_inputs(tmp_path)] == ["a.parquet", "b.fa", "c.txt.gz"]
    assert [p.name for p in expand_inputs(str(tmp_path / "*.fa"))] == ["b.fa"]
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs(str(tmp_path / "*.fasta"))
    with pytest.raises(InputError, match="no such file"):
        expand_inputs(tmp_path / "missing.fa")


def test_the_final_check_catches_a_lost_or_duplicated_row(tmp_path):
    from biocoreset_viz.distributed import _check_complete
    from biocoreset_viz.runs import write_shard

    def shard(part: int, indices: list[int]) -> None:
        frame = pd.DataFrame({"index": indices, "id": [f"s{i}" for i in indices]})
        frame["self_influence"] = 1.0
        write_shard(tmp_path / "scores" / f"part-{part:05d}.parquet", frame, None)

    shard(0, [0, 1, 2])
    shard(1, [3, 4])
    _check_complete(tmp_path, 5)  # complete: passes
    with pytest.raises(RunDirectoryError, match="5 rows .5 distinct positions. for a pool of 6"):
        _check_complete(tmp_path, 6)
    shard(1, [3, 3])
    with pytest.raises(RunDirectoryError, match="4 distinct positions"):
        _check_complete(tmp_path, 5)


# ------------------------------------------------------------------------- Ray missing


@pytest.fixture
def without_ray(monkeypatch):
    """Make ``import ray`` fail, as on a machine without the extra."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_ray_says_how_to_install_it(without_ray, pool_files, tmp_path, capsys):
    with pytest.raises(RayNotInstalledError, match=r'pip install "biocoreset_viz\[distributed\]"'):
        require_ray()
    status = main(
        ["score", str(pool_files["single"]), "--model", str(pool_files["model"]),
         "--out", str(tmp_path / "run"), "--engine", "ray", "--quiet"]
    )  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith("biocoreset score: error: the Ray engine needs Ray Data")


def test_local_engine_refuses_several_inputs(pool_files, tmp_path, capsys):
    arguments = [str(p) for p in pool_files["sharded"]]
    status = main(
        ["score", *arguments, "--model", str(pool_files["model"]), "--out", str(tmp_path)]
    )
    assert status == 2
    assert "use --engine ray for sharded input" in capsys.readouterr().err


def test_ray_options_are_validated():
    with pytest.raises(ConfigError, match="num_actors"):
        RayOptions(num_actors=0)
    with pytest.raises(ConfigError, match="cpus_per_actor"):
        RayOptions(cpus_per_actor=0)


def test_distributed_extra_is_declared_in_pyproject_and_environment_yml():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (requirement,) = extras["distributed"]
    assert requirement.startswith("ray[data]>=")
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert requirement in pip_section


# ------------------------------------------------------------------------- on a Ray cluster


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
        runtime_env={"env_vars": {CRASH_HOOK_ENV: str(crash_dir)}},
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
