"""Projections of the embeddings: PCA, UMAP, and the cache keyed by parameters and run."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from biocoreset_viz import projection
from biocoreset_viz.errors import ConfigError, RunDirectoryError
from biocoreset_viz.projection import (
    ProjectionSettings,
    find_projection,
    pca_coordinates,
    points_in_polygon,
    project_pca,
    project_umap,
    read_projection,
    run_identity,
    umap_coordinates,
    write_projection,
)
from biocoreset_viz.runs import ScoreTable


def two_blobs(n: int = 120, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of two well separated groups, and the group of each row."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 2
    matrix = rng.normal(size=(n, dim)) + 8.0 * group[:, None]
    return matrix.astype(np.float16), group


def write_run(folder, n: int = 120, seed: int = 0, embeddings: bool = True):
    matrix, _ = two_blobs(n, seed=seed)
    frame = pd.DataFrame(
        {
            "index": np.arange(n, dtype=np.int64),
            "id": [f"s{i}" for i in range(n)],
            "self_influence": np.random.default_rng(seed).lognormal(size=n),
        }
    )
    table = ScoreTable(frame, matrix if embeddings else None, {"model": "test", "seed": seed})
    return table.save(folder)


def fake_umap(calls: list):
    """A stand-in for the UMAP computation that records its calls (UMAP takes ~20 s)."""

    def compute(embeddings, settings):
        calls.append(settings)
        matrix = np.asarray(embeddings, dtype=np.float32)
        return np.stack([matrix[:, 0], matrix[:, 1] + settings.min_dist], axis=1)

    return compute


def test_pca_separates_the_main_direction_and_is_signed_reproducibly() -> None:
    rng = np.random.default_rng(1)
    direction = np.array([3.0, 4.0, 0.0, 0.0]) / 5.0
    spread = rng.normal(size=200)
    matrix = spread[:, None] * 10.0 * direction + rng.normal(scale=0.1, size=(200, 4))
    coordinates = pca_coordinates(matrix)
    assert coordinates.shape == (200, 2) and coordinates.dtype == np.float32
    assert abs(np.corrcoef(coordinates[:, 0], spread)[0, 1]) > 0.999
    # -X has the same covariance, hence the same signed axes: its map is the mirror image
    np.testing.assert_allclose(pca_coordinates(-matrix), -coordinates, atol=1e-4)
    # the axis is signed by its largest loading (here the 4/5 component), not by chance
    assert np.corrcoef(coordinates[:, 0], matrix[:, 1])[0, 1] > 0
    np.testing.assert_array_equal(pca_coordinates(matrix), coordinates)


def test_pca_on_a_sample_matches_pca_on_all_rows_closely() -> None:
    matrix, group = two_blobs(2_000)
    full = pca_coordinates(matrix, sample_size=10_000)
    sampled = pca_coordinates(matrix, sample_size=500)
    assert abs(np.corrcoef(full[:, 0], sampled[:, 0])[0, 1]) > 0.99
    # the first axis separates the two groups
    assert (full[group == 0, 0].max() < full[group == 1, 0].min()) or (
        full[group == 1, 0].max() < full[group == 0, 0].min()
    )


def test_project_pca_of_a_run_keeps_the_index(tmp_path) -> None:
    run_dir = write_run(tmp_path / "run")
    frame = project_pca(run_dir)
    assert list(frame.columns) == ["index", "x", "y"]
    np.testing.assert_array_equal(frame["index"], np.arange(120))


def test_a_tiny_run_still_has_a_pca_map() -> None:
    """One or two sequences: a point, a segment (the dashboard of a 1-sequence run)."""
    np.testing.assert_array_equal(pca_coordinates(np.ones((1, 4))), np.zeros((1, 2)))
    two = pca_coordinates(np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert two.shape == (2, 2) and abs(two[1, 0] - two[0, 0]) == 2.0


def test_bad_embeddings_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pca_coordinates(np.zeros(10))
    with pytest.raises(ValueError, match="at least 1"):
        pca_coordinates(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        pca_coordinates(np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 2.0]]))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_neighbors": 1}, "n_neighbors must be an integer >= 2"),
        ({"min_dist": 1.5}, r"min_dist must be in \[0, 1\]"),
        ({"sample_size": 1}, "sample_size must be None or an integer >= 2"),
    ],
)
def test_projection_settings_are_checked(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ProjectionSettings(**settings)


def test_cache_key_changes_with_every_parameter_and_the_run() -> None:
    base = ProjectionSettings()
    keys = {
        base.cache_key("run-a"),
        base.cache_key("run-b"),
        ProjectionSettings(n_neighbors=30).cache_key("run-a"),
        ProjectionSettings(min_dist=0.5).cache_key("run-a"),
        ProjectionSettings(metric="euclidean").cache_key("run-a"),
        ProjectionSettings(random_state=1).cache_key("run-a"),
        ProjectionSettings(sample_size=None).cache_key("run-a"),
    }
    assert len(keys) == 7
    assert base.file_name("run-a") == f"projection-{base.cache_key('run-a')}.parquet"


def test_run_identity_follows_the_scores_not_the_folder(tmp_path) -> None:
    run_dir = write_run(tmp_path / "run")
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert run_identity(copy) == run_identity(run_dir)
    other = write_run(tmp_path / "other", seed=1)
    assert run_identity(other) != run_identity(run_dir)


def test_project_umap_caches_in_the_run_directory(tmp_path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(projection, "umap_coordinates", fake_umap(calls))
    run_dir = write_run(tmp_path / "run")
    first = project_umap(run_dir, min_dist=0.2)
    cached = find_projection(run_dir, ProjectionSettings(min_dist=0.2))
    assert cached is not None and cached.parent == run_dir
    assert cached.name.startswith("projection-")
    again = project_umap(run_dir, min_dist=0.2)
    assert len(calls) == 1  # the second call read the cache
    pd.testing.assert_frame_equal(first, again)
    project_umap(run_dir, min_dist=0.3)  # other parameters, another file
    assert len(calls) == 2
    assert len(list(run_dir.glob("projection-*.parquet"))) == 2


def test_a_read_only_run_caches_in_the_user_cache(tmp_path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(projection, "umap_coordinates", fake_umap(calls))
    monkeypatch.setattr(projection, "_writable", lambda folder: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run_dir = write_run(tmp_path / "run")
    project_umap(run_dir)
    assert not list(run_dir.glob("projection-*.parquet"))
    cached = find_projection(run_dir)
    assert cached is not None
    assert cached.is_relative_to(tmp_path / "cache" / "biocoreset_viz" / "projections")
    project_umap(run_dir)
    assert len(calls) == 1


def test_a_rescored_run_does_not_reuse_a_stale_projection(tmp_path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(projection, "umap_coordinates", fake_umap(calls))
    run_dir = write_run(tmp_path / "run", n=120)
    project_umap(run_dir)
    write_run(run_dir, n=130)  # the same folder, other scores
    frame = project_umap(run_dir)
    assert len(calls) == 2 and len(frame) == 130


def test_arrays_are_projected_without_a_cache(tmp_path, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(projection, "umap_coordinates", fake_umap(calls))
    matrix, _ = two_blobs()
    frame = project_umap(matrix)
    np.testing.assert_array_equal(frame["index"], np.arange(len(matrix)))
    assert len(calls) == 1


def test_a_run_without_embeddings_cannot_be_projected(tmp_path) -> None:
    run_dir = write_run(tmp_path / "run", embeddings=False)
    with pytest.raises(RunDirectoryError, match="no embeddings"):
        project_umap(run_dir)


def test_read_projection_checks_columns_and_rows(tmp_path) -> None:
    run_dir = write_run(tmp_path / "run")
    frame = pd.DataFrame({"index": [2, 0, 1], "x": [0.0, 1.0, 2.0], "y": [1.0, 1.0, 1.0]})
    path = write_projection(run_dir, frame)
    np.testing.assert_array_equal(read_projection(path)["index"], [0, 1, 2])
    with pytest.raises(RunDirectoryError, match="3 rows for a run of 4"):
        read_projection(path, n_rows=4)
    pd.DataFrame({"index": [0], "x": [0.0]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(RunDirectoryError, match="not a projection"):
        read_projection(tmp_path / "bad.parquet")


@pytest.mark.slow
def test_umap_separates_groups_fitted_on_all_or_on_a_sample() -> None:
    matrix, group = two_blobs(300)
    for settings in (
        ProjectionSettings(metric="euclidean"),
        ProjectionSettings(metric="euclidean", sample_size=100),
    ):
        coordinates = umap_coordinates(matrix, settings)
        assert coordinates.shape == (300, 2) and np.isfinite(coordinates).all()
        centres = [coordinates[group == g].mean(axis=0) for g in (0, 1)]
        spread = max(coordinates[group == g].std(axis=0).max() for g in (0, 1))
        assert np.linalg.norm(centres[0] - centres[1]) > 3 * spread


def test_points_in_polygon_uses_the_even_odd_rule() -> None:
    x = np.array([0.5, 1.5, 2.5, 1.5, 5.0])
    y = np.array([0.5, 0.5, 2.5, 1.5, 5.0])
    # an L shape: the square (0,0)-(2,2) without its upper-right quarter
    xs = [0, 2, 2, 1, 1, 0]
    ys = [0, 0, 1, 1, 2, 2]
    assert points_in_polygon(x, y, xs, ys).tolist() == [True, True, False, False, False]
