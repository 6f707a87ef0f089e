"""Where the Hugging Face hub keeps downloaded files on this machine (read only, never downloads).

The layout is the hub cache's: ``<cache>/models--<org>--<name>/snapshots/<revision>/<file>``,
with ``refs/main`` naming the revision last downloaded. The cache folder is
``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``, as
``huggingface_hub`` finds it, so this works without that package installed.
"""

from __future__ import annotations

import os
from pathlib import Path


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "huggingface" / "hub"


def repo_cache_dir(repo_id: str) -> Path:
    """The cache folder of one model repository (``org/name``)."""
    return hub_cache_dir() / f"models--{repo_id.replace('/', '--')}"


def cached_snapshot(repo_id: str, required: str = "") -> Path | None:
    """The cached snapshot folder of a repository holding ``required``, or ``None``.

    The revision in ``refs/main`` comes first, then any other cached snapshot.
    """
    repo = repo_cache_dir(repo_id)
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    main = repo / "refs" / "main"
    preferred = main.read_text().strip() if main.is_file() else None
    candidates = sorted(snapshots.iterdir(), key=lambda p: p.name != preferred)
    for snapshot in candidates:
        if snapshot.is_dir() and (not required or (snapshot / required).exists()):
            return snapshot
    return None
