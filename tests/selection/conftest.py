"""Fixtures of the selection tests."""

from __future__ import annotations

import pytest

from biocoreset_viz.selection import engine


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 16 scores so that small inputs cross many chunk boundaries."""
    monkeypatch.setattr(engine, "_CHUNK", 16)
