"""The run-directory contract: score shards, manifest, atomic writes."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.runs import (
    SCORES_DIR,
    ScoreTable,
    atomic_write_bytes,
    read_json,
    shard_paths,
    write_json,
    write_shard,
)


def table(n: int = 7, dim: int = 5) -> ScoreTable:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "index": np.arange(n, dtype=np.int64),
            "id": [f"s{i}" for i in range(n)],
            "length": rng.integers(5, 50, n),
            "truncated": np.zeros(n, dtype=bool),
            "loss": rng.random(n),
            "self_influence": rng.random(n) * 1e6,
            "family": ["tRNA", "5S"] * (n // 2) + ["tRNA"] * (n % 2),
        }
    )
    embeddings = rng.normal(size=(n, dim)).astype(np.float16)
    return ScoreTable(frame, embeddings, {"model": {"name": "m"}})


def test_save_load_round_trip_keeps_values_dtypes_and_labels(tmp_path):
    original = table()
    original.save(tmp_path, rows_per_shard=3)
    assert len(shard_paths(tmp_path)) == 3
    loaded = ScoreTable.load(tmp_path)
    pd.testing.assert_frame_equal(loaded.frame, original.frame)
    np.testing.assert_array_equal(loaded.embeddings, original.embeddings)
    assert loaded.embeddings.dtype == np.float16
    assert loaded.scores.dtype == np.float64
    assert loaded.label_columns == ["family"]
    assert loaded.manifest == {"model": {"name": "m"}}


def test_rows_come_back_sorted_by_index_whatever_the_shard_order(tmp_path):
    original = table(6)
    reversed_frame = original.frame.iloc[::-1].reset_index(drop=True)
    write_shard(
        tmp_path / SCORES_DIR / "part-00000.parquet",
        reversed_frame.iloc[:3],
        original.embeddings[::-1][:3],
    )
    write_shard(
        tmp_path / SCORES_DIR / "part-00001.parquet",
        reversed_frame.iloc[3:],
        original.embeddings[::-1][3:],
    )
    write_json(tmp_path / "manifest.json", {})
    loaded = ScoreTable.load(tmp_path)
    assert loaded.frame["index"].tolist() == list(range(6))
    np.testing.assert_array_equal(loaded.embeddings, original.embeddings)


def test_load_without_embeddings_and_chosen_columns(tmp_path):
    table().save(tmp_path)
    light = ScoreTable.load(tmp_path, embeddings=False, columns=["loss"])
    assert light.embeddings is None
    assert list(light.frame.columns) == ["index", "id", "loss", "self_influence"]


def test_unknown_column(tmp_path):
    table().save(tmp_path)
    with pytest.raises(ValueError, match=r"unknown score columns \['colour'\]"):
        ScoreTable.load(tmp_path, columns=["colour"])


def test_exists(tmp_path):
    assert not ScoreTable.exists(tmp_path)
    table().save(tmp_path)
    assert ScoreTable.exists(tmp_path)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(RunDirectoryError, match="not a run directory"):
        ScoreTable.load(tmp_path)


def test_a_run_without_shards(tmp_path):
    write_json(tmp_path / "manifest.json", {})
    with pytest.raises(RunDirectoryError, match="no score shards"):
        ScoreTable.load(tmp_path)


def test_embeddings_must_match_the_rows():
    with pytest.raises(ValueError, match="3 embeddings for 7 score rows"):
        ScoreTable(table().frame, np.zeros((3, 5), np.float16))


def test_atomic_write_leaves_no_temporary_file_and_a_shareable_mode(tmp_path):
    path = atomic_write_bytes(tmp_path / "deep" / "file.bin", b"payload")
    assert path.read_bytes() == b"payload"
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_json_round_trip_with_numpy_values(tmp_path):
    write_json(tmp_path / "a.json", {"n": np.int64(3), "x": np.arange(2), "p": tmp_path})
    assert read_json(tmp_path / "a.json") == {"n": 3, "x": [0, 1], "p": str(tmp_path)}
