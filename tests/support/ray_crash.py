"""A test-only crash hook for the Ray engine's workers (tests/distributed).

:func:`runtime_env` makes every Ray worker run :func:`install` when it starts
(Ray's ``worker_process_setup_hook``, with this folder on the worker's path). The
hook wraps the actors' shard writer: an actor that finds the file
``<point>-part-XXXXX`` in the crash folder (``before-write`` or ``after-write``)
renames it, so it fires once, and exits the worker process at that point of that
shard, as a lost node or a segfault would.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CRASH_DIR_ENV = "BIOCORESET_TEST_CRASH_DIR"
TESTS_DIR = Path(__file__).resolve().parents[1]


def runtime_env(crash_dir: Path) -> dict[str, Any]:
    """The ``ray.init(runtime_env=...)`` that installs the hook in every worker."""
    path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
    return {
        "worker_process_setup_hook": "support.ray_crash.install",
        "env_vars": {"PYTHONPATH": path, CRASH_DIR_ENV: str(crash_dir)},
    }


def install() -> None:
    """Wrap ``biocoreset_viz.distributed.actors.write_score_shard`` with the crash points."""
    folder = os.environ.get(CRASH_DIR_ENV)
    if not folder:
        return
    from biocoreset_viz.distributed import actors

    write = actors.write_score_shard

    def write_or_crash(run_dir, part, frame, embeddings):
        _crash_point(Path(folder), "before-write", part)
        path = write(run_dir, part, frame, embeddings)
        _crash_point(Path(folder), "after-write", part)
        return path

    actors.write_score_shard = write_or_crash


def _crash_point(folder: Path, point: str, part: int) -> None:
    trigger = folder / f"{point}-part-{part:05d}"
    try:
        os.rename(trigger, trigger.with_name(trigger.name + ".fired"))
    except FileNotFoundError:
        return
    os._exit(1)  # a worker dying without cleanup
