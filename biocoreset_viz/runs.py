"""The run directory: one analysis on disk, and the score table it holds.

Layout (see the design, section 5)::

    RUN_DIR/
      manifest.json            model, config, Fisher subset, counts, versions
      fisher.pt                diagonal Fisher per target parameter
      scores/part-00000.parquet ...  one row per input sequence
      projection-<hash>.parquet
      selections/<name>.json
      evaluation/curves.parquet

Score shards hold the columns ``index`` (int64, position in the input), ``id``,
``length``, ``truncated``, ``loss``, ``self_influence`` (float64, >= 0),
``gradient_norm`` (runs scored since it was added) and ``embedding``
(fixed-size list of float16), plus label columns carried from the input
(``family``, ``cluster``, ``structure``) when present. Every file is written
to a temporary name and renamed, so a crash never leaves a half-written file.

One writer, whole reads (design, section 5): a scoring run holds the directory's
writer lock from start to end (:class:`~biocoreset_viz.run_lock.RunLock`,
``RUN_DIR/.lock``), and every reader goes through :meth:`ScoreTable.load`, which
first checks the run (:func:`~biocoreset_viz.run_check.check_run`: the manifest's
status, the shard count, each shard's rows and positions from its Parquet footer)
and, after reading, that the positions are complete and the ids unique; a partial
or damaged run is refused with one line that says what is wrong and how to resume
or rescore, unless ``allow_partial``. ``check_run``, ``RunStatus``, ``RunLock`` and
``run_writer`` are importable from here too.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from biocoreset_viz.errors import ConfigError, InputError, RunDirectoryError

# Every file and folder name of a run directory, defined here only.
MANIFEST_NAME = "manifest.json"
SCORES_DIR = "scores"
SHARD_PATTERN = "part-{:05d}.parquet"
FISHER_NAME = "fisher.pt"
FISHER_SUBSET_NAME = "fisher_subset.txt"
FINETUNED_NAME = "finetuned_model.pt"
INPUTS_DIR = "inputs"  # the Ray engine's staged input
PROJECTION_PREFIX = "projection-"
SELECTIONS_DIR = "selections"
EVALUATION_DIR = "evaluation"
CURVES_NAME = "curves.parquet"  # inside EVALUATION_DIR
LOCK_NAME = ".lock"  # the writer lock: the current (or last, if it died) writer
TEMPORARY_GLOB = ".*.tmp"  # what atomic_write_bytes writes before its rename
SCORE_COLUMNS = ("index", "id", "length", "truncated", "loss", "self_influence", "gradient_norm")
EMBEDDING_COLUMN = "embedding"

# Names of the lock and the checks, importable from here (loaded when first asked for:
# those modules import this one).
_LAZY = {
    "RunLock": "run_lock",
    "RunWriter": "run_lock",
    "run_writer": "run_lock",
    "RunStatus": "run_check",
    "ShardLayout": "run_check",
    "check_run": "run_check",
    "shard_layout": "run_check",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"biocoreset_viz.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename.

    The file gets the usual permissions (not the owner-only mode of a temporary
    file), so run directories can be shared with a team.

    Raises:
        OSError: the write failed (a full disk, no permission ...); the error names
            ``path``, and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if error.errno is None:
            raise
        # named for the file asked for, not its temporary name; OSError(errno, ...)
        # is the errno's own subclass (PermissionError ...)
        raise OSError(error.errno, error.strerror, str(path)) from error
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (not below it).

    Only for a writer that holds the run's :class:`RunLock`: no other writer is
    alive then, so every temporary file is a dead one's.
    """
    removed = []
    for stale in sorted(Path(folder).glob(TEMPORARY_GLOB)):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def write_json(path: str | Path, payload: Any) -> Path:
    """Atomically write ``payload`` as indented JSON."""
    text = json.dumps(payload, indent=2, sort_keys=False, default=_json_default)
    return atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``manifest.json``.

    Raises:
        RunDirectoryError: absent (not a run directory), unreadable, not valid JSON,
            or not a JSON object: one line naming the file and what to do.
    """
    path = Path(run_dir) / MANIFEST_NAME
    if not path.exists():
        raise RunDirectoryError(f"{run_dir}: not a run directory (no {MANIFEST_NAME})")
    try:
        manifest = read_json(path)
    except OSError as error:
        raise RunDirectoryError(f"{path}: cannot read it ({error.strerror or error})") from error
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        where = getattr(error, "lineno", None)
        detail = f" at line {where} column {error.colno}" if where else ""  # type: ignore[attr-defined]
        raise RunDirectoryError(
            f"{path}: not valid JSON{detail}; the run directory is damaged: rescore it "
            "(biocoreset score ... --overwrite), or restore the file"
        ) from error
    if not isinstance(manifest, dict):
        raise RunDirectoryError(f"{path}: not a run manifest (a JSON {type(manifest).__name__})")
    return manifest


def shard_paths(run_dir: str | Path) -> list[Path]:
    """The finished score shards of a run, in order."""
    return sorted((Path(run_dir) / SCORES_DIR).glob("part-*.parquet"))


def missing_shards(run_dir: str | Path, n_parts: int) -> list[int]:
    """The shard numbers below ``n_parts`` that have no finished score shard yet."""
    done = {path.name for path in shard_paths(run_dir)}
    return [part for part in range(n_parts) if SHARD_PATTERN.format(part) not in done]


def scores_table_to_arrow(frame: pd.DataFrame, embeddings: np.ndarray | None) -> pa.Table:
    """Arrow table of a score frame, the embedding as a fixed-size list of float16."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if embeddings is not None:
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float16)
        n, dim = embeddings.shape
        values = pa.array(embeddings.reshape(-1), type=pa.float16())
        table = table.append_column(
            EMBEDDING_COLUMN, pa.FixedSizeListArray.from_arrays(values, dim)
        )
    return table


def write_shard(path: str | Path, frame: pd.DataFrame, embeddings: np.ndarray | None) -> Path:
    """Atomically write one Parquet score shard."""
    table = scores_table_to_arrow(frame, embeddings)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _embedding_matrix(column: pa.ChunkedArray) -> np.ndarray:
    """``(N, D)`` float16 matrix from a fixed-size-list column."""
    dim = column.type.list_size
    flat = [chunk.flatten().to_numpy(zero_copy_only=False) for chunk in column.chunks]
    values = np.concatenate(flat) if flat else np.empty(0, np.float16)
    return values.astype(np.float16, copy=False).reshape(-1, dim)


@dataclass
class ScoreTable:
    """Per-sequence scores of a run, sorted by input ``index``.

    Attributes:
        frame: one row per sequence: ``index``, ``id``, ``length``, ``truncated``,
            ``loss``, ``self_influence`` and any label columns; no embeddings.
        embeddings: ``(N, D)`` float16 mean-pooled last-layer embeddings, or ``None``
            when loaded with ``embeddings=False``.
        manifest: the run's manifest (model, config, Fisher, counts).
        run_dir: the folder it was loaded from, if any.
        status: what :func:`~biocoreset_viz.run_check.check_run` found when it was
            loaded (``status.complete`` is ``False`` only with ``allow_partial``).
    """

    frame: pd.DataFrame
    embeddings: np.ndarray | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    status: Any = None  # a RunStatus

    def __post_init__(self) -> None:
        missing = [c for c in ("index", "id", "self_influence") if c not in self.frame.columns]
        if missing:
            raise InputError(f"score frame lacks columns {missing}")
        if self.embeddings is not None and len(self.embeddings) != len(self.frame):
            raise InputError(f"{len(self.embeddings)} embeddings for {len(self.frame)} score rows")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def scores(self) -> np.ndarray:
        """Self-influence, float64, shape ``(N,)``."""
        return self.frame["self_influence"].to_numpy(np.float64)

    @property
    def ids(self) -> np.ndarray:
        """Sequence ids, shape ``(N,)``."""
        return self.frame["id"].to_numpy()

    @property
    def pool_size(self) -> int:
        """The number of sequences the run scores: :func:`len` unless loaded partial."""
        recorded = getattr(self.status, "pool_size", None)
        return len(self) if recorded is None else int(recorded)

    @property
    def label_columns(self) -> list[str]:
        """The label columns carried from the input (``family``, ``cluster`` ...)."""
        return [c for c in self.frame.columns if c not in SCORE_COLUMNS]

    @staticmethod
    def exists(run_dir: str | Path) -> bool:
        """Whether ``run_dir`` holds a manifest and at least one score shard."""
        return (Path(run_dir) / MANIFEST_NAME).exists() and bool(shard_paths(run_dir))

    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        *,
        embeddings: bool = True,
        columns: Sequence[str] | None = None,
        allow_partial: bool = False,
    ) -> ScoreTable:
        """Read every score shard of a run, after checking that the run is whole.

        Args:
            run_dir: the run directory.
            embeddings: also read the embedding column (skip it to select from
                millions of scores with little memory).
            columns: read only these score/label columns (``index``, ``id`` and
                ``self_influence`` are always read).
            allow_partial: read the intact shards of an unfinished or damaged run
                (the table's ``status`` says what is missing) instead of refusing it.

        Raises:
            RunDirectoryError: not a run, or (without ``allow_partial``) a partial or
                damaged one (see :func:`~biocoreset_viz.run_check.check_run`); a
                position scored twice or an id twice, even with ``allow_partial``.
        """
        from biocoreset_viz.run_check import check_rows, check_run

        run_dir = Path(run_dir)
        status = check_run(run_dir, allow_partial=allow_partial)
        manifest = read_manifest(run_dir)
        paths = list(status.shards)
        try:
            schema = pq.read_schema(paths[0])
        except (OSError, pa.ArrowException) as error:
            raise _unreadable(run_dir, error) from error
        wanted = [n for n in schema.names if n != EMBEDDING_COLUMN]
        if columns is not None:
            unknown = sorted(set(columns) - set(schema.names))
            if unknown:
                raise ConfigError(f"unknown score columns {unknown}; available: {schema.names}")
            wanted = [n for n in wanted if n in {"index", "id", "self_influence", *columns}]
        read_embeddings = embeddings and EMBEDDING_COLUMN in schema.names
        try:
            table = pq.ParquetDataset(paths).read(
                columns=wanted + ([EMBEDDING_COLUMN] if read_embeddings else [])
            )
        except (OSError, pa.ArrowException) as error:
            raise _unreadable(run_dir, error) from error
        index = table.column("index").to_numpy()
        order = np.argsort(index, kind="stable")
        table = table.take(pa.array(order))
        matrix = _embedding_matrix(table.column(EMBEDDING_COLUMN)) if read_embeddings else None
        frame = table.select(wanted).to_pandas()
        check_rows(status, index[order], frame["id"], partial=not status.complete)
        return cls(frame, matrix, manifest, run_dir, status)

    def save(self, run_dir: str | Path, *, rows_per_shard: int = 1_000_000) -> Path:
        """Write this table as a run directory (manifest and score shards)."""
        run_dir = Path(run_dir)
        scores_dir = run_dir / SCORES_DIR
        scores_dir.mkdir(parents=True, exist_ok=True)
        for stale in shard_paths(run_dir):
            stale.unlink()
        for part, start in enumerate(range(0, max(len(self), 1), rows_per_shard)):
            stop = start + rows_per_shard
            chunk = None if self.embeddings is None else self.embeddings[start:stop]
            write_shard(scores_dir / SHARD_PATTERN.format(part), self.frame.iloc[start:stop], chunk)
        write_json(run_dir / MANIFEST_NAME, self.manifest)
        self.run_dir = run_dir
        return run_dir


def _unreadable(run_dir: Path, error: Exception) -> RunDirectoryError:
    """A shard whose footer reads but whose data does not."""
    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return RunDirectoryError(
        f"{run_dir}: a score shard cannot be read ({reason}); the run is damaged: delete "
        "that shard and rerun the same `biocoreset score` command to rescore it"
    )


def curves_path(run_dir: str | Path) -> Path:
    """``RUN_DIR/evaluation/curves.parquet``: the learning curves of ``biocoreset evaluate``."""
    return Path(run_dir) / EVALUATION_DIR / CURVES_NAME


def run_sequences(
    run_dir: str | Path,
    manifest: Mapping[str, Any] | None = None,
    given: str | Path | None = None,
) -> Any:
    """The scored sequences of a run, as a :class:`~biocoreset_viz.sequences.SequenceSet`.

    Read from ``given`` when set, else from ``manifest["input"]["path"]`` (a
    relative path is tried as is, then inside ``run_dir``; ``demo:NAME`` loads a
    bundled demo dataset). The molecule is the manifest's.

    Raises:
        InputError: ``given`` does not exist or cannot be read.
        RunDirectoryError: nothing given and the manifest records no readable input.
    """
    from biocoreset_viz.sequences import read_sequences

    if manifest is None:
        manifest = read_manifest(run_dir)
    molecule = manifest.get("molecule")
    molecule = molecule if molecule in ("rna", "protein") else "auto"
    if given is not None:
        return read_sequences(given, molecule=molecule)
    recorded = manifest.get("input")
    recorded = recorded.get("path") if isinstance(recorded, Mapping) else None
    if not recorded:
        raise RunDirectoryError(
            f"{run_dir}: the manifest records no input sequence file; pass --input FASTA"
        )
    if str(recorded).startswith("demo:"):
        from biocoreset_viz.datasets import load_demo

        return load_demo(str(recorded).removeprefix("demo:"))
    for candidate in (Path(recorded), Path(run_dir) / recorded):
        if candidate.is_file():
            return read_sequences(candidate, molecule=molecule)
    raise RunDirectoryError(
        f"{run_dir}: the scored input {recorded} recorded in the manifest is missing; "
        "pass --input FASTA"
    )
