"""Fixtures of the Ray-engine tests: the pool files, made once per test module."""

from __future__ import annotations

import pytest
from support.distributed import write_pool_files


@pytest.fixture(scope="module")
def pool_files(tmp_path_factory):
    """The same pool as one CSV (for the local engine) and as sharded CSV + Parquet input."""
    return write_pool_files(tmp_path_factory.mktemp("pool"))
