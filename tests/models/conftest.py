"""Fixtures of the model tests: an empty torch hub folder, an empty Hugging Face cache, no downloads."""

from __future__ import annotations

import pathlib

import pytest
import torch


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> pathlib.Path:
    """An empty torch hub folder, found the way fair-esm finds it (``TORCH_HOME``)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert pathlib.Path(torch.hub.get_dir()) / "checkpoints" == checkpoints
    return checkpoints


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch) -> pathlib.Path:
    """An empty Hugging Face hub cache (``HF_HUB_CACHE``), so this machine's cache never counts."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache
