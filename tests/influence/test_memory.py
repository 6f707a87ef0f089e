"""Freed memory given back to the system: after every shard and every so many CPU tokens."""

from __future__ import annotations

from pathlib import Path

import torch
from support.influence import random_pool, tiny_esm2

from biocoreset_viz.influence import FreedMemoryReleaser, InfluenceConfig, fit_fisher, memory, score
from biocoreset_viz.influence import batches as batching
from biocoreset_viz.models import rna_alphabet


def test_freed_memory_is_released_after_every_shard(tmp_path, monkeypatch):
    """Without it a long run's resident memory grows with the shards scored (glibc keeps
    the freed, fragmented tensors of variable-length batches in its heap)."""
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(7, 3, 20, seed=5)
    config = InfluenceConfig(fisher_subset=7, shard_size=3)
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert len(calls) == 3  # shards of 3, 3 and 1
    if Path("/lib/x86_64-linux-gnu/libc.so.6").exists():  # glibc: malloc_trim is there
        assert memory._malloc_trim() is not None


def test_freed_memory_is_released_every_so_many_cpu_tokens(monkeypatch):
    calls = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    releaser = FreedMemoryReleaser(torch.device("cpu"), every_tokens=100)
    releaser.count(60)
    assert calls == []
    releaser.count(60)  # 120 >= 100
    assert len(calls) == 1
    releaser.count(99)
    assert len(calls) == 1  # the count starts over after a release
    gpu = FreedMemoryReleaser(torch.device("cuda"), every_tokens=1)
    gpu.count(10**6)
    assert len(calls) == 1  # CUDA tensors do not fragment the host heap


def test_scoring_and_fisher_release_memory_within_a_shard_too(tmp_path, monkeypatch):
    """Within a shard as well: one shard of 4,000 demo RNAs reached 2.9 GiB without it."""
    model, alphabet, pool = tiny_esm2(), rna_alphabet(), random_pool(7, 3, 20, seed=5)
    config = InfluenceConfig(fisher_subset=7, shard_size=4, max_tokens=40)
    monkeypatch.setattr(memory, "RELEASE_EVERY_TOKENS", 1)
    calls, batches = [], []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: calls.append(1) or True)
    compute = batching.per_sample_gradients
    monkeypatch.setattr(
        batching, "per_sample_gradients", lambda *a, **k: batches.append(1) or compute(*a, **k)
    )
    fisher = fit_fisher(model, pool, config, alphabet=alphabet, progress=False)
    assert len(batches) > 1 and len(calls) == len(batches)
    calls.clear()
    batches.clear()
    score(model, fisher, pool, config, tmp_path, alphabet=alphabet, progress=False)
    assert len(batches) > 2 and len(calls) == len(batches) + 2  # plus one per shard
