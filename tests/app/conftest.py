"""Fixtures of the dashboard's tests: one fixture run per test module, a fresh store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.app_runs import write_run

from biocoreset_viz.app.store import DataStore


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """400 RNAs in 8 families with a cached UMAP-keyed map and learning curves."""
    return write_run(tmp_path_factory.mktemp("app"), projection=True, curves=True)


@pytest.fixture
def store(run_dir) -> DataStore:
    return DataStore(run_dir, umap=False)
