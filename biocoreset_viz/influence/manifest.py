"""The scoring run's manifest and its hold on the run directory, shared by both engines.

:func:`holding_run` is a scoring run's hold on its directory from start to end:
the writer lock (one writer per run directory), dead writers' temporary files
removed, and a full disk reported as one line that says the data written so far
is safe and how to resume. :func:`start_score_manifest` checks the identity and
writes the manifest with status "scoring", restoring any Fisher file a killed run
left missing; :func:`pending_shards` says which shards a resumed run must still
score (missing ones, and damaged ones, which it removes); and
:func:`complete_score_manifest` marks the run complete. The local and the Ray
engine write the same manifest, so each can resume the other's run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from biocoreset_viz import __version__
from biocoreset_viz.errors import RunDirectoryError
from biocoreset_viz.influence.fisher import DiagonalFisher
from biocoreset_viz.influence.identity import (
    changed_entries,
    legacy_score_identity,
    score_identity,
    score_variants_record,
)
from biocoreset_viz.influence.plan import ScoringPlan
from biocoreset_viz.run_check import ShardLayout, survey_shards
from biocoreset_viz.run_lock import RunLock
from biocoreset_viz.runs import (
    FISHER_NAME,
    FISHER_SUBSET_NAME,
    INPUTS_DIR,
    MANIFEST_NAME,
    SCORES_DIR,
    atomic_write_bytes,
    read_manifest,
    remove_temporaries,
    shard_paths,
    write_json,
)

logger = logging.getLogger(__name__)
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def ensure_writable(run_dir: Path) -> None:
    """Create the run directory and check that a file can be written in it.

    Raises:
        RunDirectoryError: it cannot be created or written.
    """
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunDirectoryError(
            f"{run_dir}: cannot write the run directory ({error.strerror or error})"
        ) from error


@contextlib.contextmanager
def holding_run(run_dir: Path) -> Iterator[None]:
    """A scoring run's hold on ``run_dir``, for the whole run (re-entrant).

    Creates the directory, takes its writer lock, removes the temporary files of
    writers that died (here, in ``scores/`` and in ``inputs/``), and turns a full
    disk into one line: each file is written whole or not at all, so what is
    written is safe and the same command resumes.

    Raises:
        RunDirectoryError: the directory cannot be written, another writer holds
            it, or the disk filled up.
    """
    ensure_writable(run_dir)
    with RunLock(run_dir):
        _remove_dead_temporaries(run_dir)
        try:
            yield
        except Exception as error:
            cause = _disk_full_cause(error)
            if cause is None:
                raise
            raise _disk_full(run_dir, cause) from error
        _remove_dead_temporaries(run_dir)  # of workers that died during this run


def _remove_dead_temporaries(run_dir: Path) -> None:
    removed = [
        path
        for folder in (run_dir, run_dir / SCORES_DIR, run_dir / INPUTS_DIR)
        for path in remove_temporaries(folder)
    ]
    if removed:
        logger.warning(
            "%s: removed %d temporary file(s) a stopped writer left (%s)",
            run_dir,
            len(removed),
            ", ".join(str(p.relative_to(run_dir)) for p in removed[:3]),
        )


def _disk_full_cause(error: BaseException) -> OSError | None:
    """The full-disk ``OSError`` behind ``error`` (also one raised in a Ray worker)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        if "[Errno 28]" in str(error):  # a worker's error, as text
            return OSError(errno.ENOSPC, "No space left on device")
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
    return None


def _disk_full(run_dir: Path, error: OSError) -> RunDirectoryError:
    where = f" while writing {error.filename}" if error.filename else ""
    try:
        manifest = read_manifest(run_dir)
        layout = ShardLayout(manifest["shards"]["rows"], manifest["shards"]["rows_per_shard"])
        done = f"{len(survey_shards(run_dir, layout).intact)} of {layout.count} score shards"
    except (RunDirectoryError, KeyError, TypeError):
        done = f"{len(shard_paths(run_dir))} score shards"
    return RunDirectoryError(
        f"{run_dir}: the disk is full ({error.strerror or 'No space left on device'}{where}); "
        f"what was written is safe ({done} done, every file whole): free some space and "
        "rerun the same command to resume"
    )


def now() -> str:
    """The local time, as the manifest records it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def start_score_manifest(
    plan: ScoringPlan,
    fisher: DiagonalFisher,
    run_dir: Path,
    *,
    model_name: str | None,
    overwrite: bool,
    extra_manifest: dict[str, Any] | None,
) -> dict[str, Any]:
    """Check the run directory's identity and write its manifest with status "scoring".

    The identity is the model's and the Fisher's fingerprints, the input's, the
    score settings and the shard layout
    (:func:`~biocoreset_viz.influence.identity.score_identity`); scores made with
    another identity are refused unless ``overwrite`` (then deleted). An unchanged
    identity is kept as recorded, so what is keyed on it (cached projections,
    evaluations) stays valid.

    Returns:
        The manifest, to be completed by :func:`complete_score_manifest`.

    Raises:
        ConfigError: the Fisher was fitted on other targets than the plan's.
        RunDirectoryError: scores of another identity, without ``overwrite``.
    """
    plan.check_fisher(fisher)
    identity = score_identity(plan, fisher)
    manifest_path = run_dir / MANIFEST_NAME
    recorded = _recorded_manifest(run_dir, overwrite)
    if recorded and shard_paths(run_dir):
        previous = recorded.get("identity", {})
        changed = changed_entries(previous, identity, lambda: legacy_score_identity(identity, plan))
        if changed and not overwrite:
            raise RunDirectoryError(
                f"{run_dir} holds scores made with a different "
                f"{', '.join(k.split('_')[0] for k in changed)}; "
                "use another run directory or overwrite=True (--overwrite) to start over"
            )
        if changed:
            shutil.rmtree(run_dir / SCORES_DIR)
        else:
            identity = previous
    manifest: dict[str, Any] = {
        "biocoreset_viz_version": __version__,
        "status": "scoring",
        "started": recorded.get("started", now()),
        "model": {
            "name": model_name,
            "sha256": plan.model_sha256,
            "family": plan.family,
            **plan.model_record,
        },
        "alphabet": list(plan.alphabet.all_toks),
        "molecule": plan.molecule,
        "input": dict(plan.input_record),
        "config": plan.config().to_dict(),
        "targets": list(plan.targets),
        "score_variants": score_variants_record(plan.settings),
        "damping_value": fisher.damping_value(plan.settings.damping, plan.settings.damping_mode),
        "fisher": {
            "file": FISHER_NAME,
            "sha256": identity["fisher_sha256"],
            "subset_size": fisher.n_sequences,
            "subset_seed": fisher.metadata.get("subset_seed"),
            "subset_ids_file": FISHER_SUBSET_NAME,
        },
        "max_length": plan.max_length,
        "shards": ShardLayout(plan.count, plan.runtime.shard_size).record(),
        "identity": identity,
        **(extra_manifest or {}),
    }
    write_json(manifest_path, manifest)
    restore_fisher_files(run_dir, fisher)
    return manifest


def _recorded_manifest(run_dir: Path, overwrite: bool) -> dict[str, Any]:
    """The manifest already there (``{}`` when none); a damaged one is refused unless
    ``overwrite``, which then starts over (its scores' identity is unknown)."""
    if not (run_dir / MANIFEST_NAME).exists():
        return {}
    try:
        return read_manifest(run_dir)
    except RunDirectoryError:
        if not overwrite:
            raise
        if (run_dir / SCORES_DIR).exists():
            shutil.rmtree(run_dir / SCORES_DIR)
        return {}


def restore_fisher_files(run_dir: Path, fisher: DiagonalFisher) -> None:
    """Write ``fisher.pt`` and ``fisher_subset.txt`` where they are missing (a run
    killed between the two renames lost the second)."""
    if not (run_dir / FISHER_NAME).exists():
        fisher.save(run_dir / FISHER_NAME)
    if not (run_dir / FISHER_SUBSET_NAME).exists():
        write_subset_ids(run_dir, fisher)


def pending_shards(run_dir: Path, plan: ScoringPlan) -> list[int]:
    """The shards a (resumed) run must still score: the missing ones and the damaged
    ones, which are removed, as are score files that are no shard of the run (each
    with a notice)."""
    survey = survey_shards(run_dir, ShardLayout(plan.count, plan.runtime.shard_size))
    for _, path, reason in survey.damaged:
        logger.warning("%s: %s is damaged (%s); scoring it again", run_dir, path.name, reason)
        path.unlink()
    for path in survey.extra:
        logger.warning("%s: removing %s, which is no shard of this run", run_dir, path.name)
        path.unlink()
    return sorted(survey.missing + [part for part, _, _ in survey.damaged])


def complete_score_manifest(
    run_dir: Path, manifest: dict[str, Any], *, scored: int, truncated: int
) -> None:
    """Mark a scoring run complete in its manifest, with its counts."""
    manifest.update(
        status="complete",
        finished=now(),
        counts={"scored": scored, "truncated": truncated, "skipped": 0},
    )
    write_json(run_dir / MANIFEST_NAME, manifest)


def write_subset_ids(run_dir: Path, fisher: DiagonalFisher) -> None:
    """``fisher_subset.txt``: the ids of the Fisher subset, one a line."""
    ids = fisher.metadata.get("subset_ids") or []
    atomic_write_bytes(run_dir / FISHER_SUBSET_NAME, ("\n".join(ids) + "\n").encode())
